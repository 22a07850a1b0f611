"""Weight clipping and spectral normalization."""
import torch
import pytest
from torch import nn
from torch.nn.utils import parametrize

from earthmover.constraints import apply_spectral_norm, clip_weights, largest_singular_values


def test_clip_bounds_every_weight():
    net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(100)
    clip_weights(net, 0.01)
    assert all(float(p.detach().abs().max()) <= 0.01 for p in net.parameters())


def test_spectral_norm_brings_each_layer_to_one():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 1),
                        nn.Unflatten(1, (1, 1, 1)), nn.Flatten(), nn.Linear(1, 3))
    conv = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    before = largest_singular_values(net) + largest_singular_values(conv)
    assert max(abs(s - 1) for s in before) > 0.1
    apply_spectral_norm(net)
    apply_spectral_norm(conv)
    for _ in range(60):  # one power iteration per training-mode forward
        net(torch.randn(8, 4))
        conv(torch.randn(2, 1, 8, 8))
    net.eval(), conv.eval()
    after = largest_singular_values(net) + largest_singular_values(conv)
    assert all(abs(s - 1.0) < 1e-2 for s in after), after
    # the parametrization is PyTorch's own
    assert hasattr(net[0], "parametrizations") and hasattr(net[0].parametrizations, "weight")


def test_spectral_norm_uses_one_power_iteration_and_never_stacks():
    """One power iteration per step, as in Miyato et al.; applying it twice (a resumed or rebuilt critic)
    must not normalize a layer twice; a layer with another tensor parametrized still gets its weight normalized."""
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))

    class Same(nn.Module):
        def forward(self, b):
            return b

    parametrize.register_parametrization(net[2], "bias", Same())
    apply_spectral_norm(net)
    apply_spectral_norm(net)
    for layer in (net[0], net[2]):
        assert len(layer.parametrizations.weight) == 1
        assert layer.parametrizations.weight[0].n_power_iterations == 1
    deeper = apply_spectral_norm(nn.Linear(2, 2), n_power_iterations=3)
    assert deeper.parametrizations.weight[0].n_power_iterations == 3


@pytest.mark.parametrize("c", [0.01, 0.5])
def test_clip_is_a_clamp_to_the_box(c):
    net = nn.Linear(3, 4)
    with torch.no_grad():
        net.weight.copy_(torch.linspace(-1, 1, 12).view(4, 3))
    before = net.weight.detach().clone()
    clip_weights(net, c)
    assert torch.equal(net.weight.detach(), before.clamp(-c, c))  # inside values untouched, outside at the wall
