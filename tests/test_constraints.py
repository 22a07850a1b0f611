"""Weight clipping and spectral normalization."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from earthmover.losses.constraints import apply_spectral_norm, clip_weights, largest_singular_values


def test_clip_bounds_every_weight():
    net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(100)
    clip_weights(net, 0.01)
    assert all(float(p.detach().abs().max()) <= 0.01 for p in net.parameters())


def test_spectral_norm_brings_each_layer_to_one():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(4, 32),
        nn.ReLU(),
        nn.Linear(32, 16),
        nn.ReLU(),
        nn.Linear(16, 1),
        nn.Unflatten(1, (1, 1, 1)),
        nn.Flatten(),
        nn.Linear(1, 3),
    )
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


def _sigma(matrix: torch.Tensor) -> float:
    return float(torch.linalg.svdvals(matrix.double())[0])


def test_largest_singular_values_are_those_of_the_output_major_matrix():
    """By hand: a linear layer's (out, in) matrix, a convolution's kernel as (out, in*k*k), a transposed
    convolution's weight, stored (in, out, k, k), as (out, in*k*k). The reshapes differ, and so do
    their largest singular values, so using another dimension shows."""
    torch.manual_seed(0)
    lin, conv, convt = nn.Linear(3, 5), nn.Conv2d(2, 6, 3), nn.ConvTranspose2d(3, 5, 4)
    by_hand = [
        _sigma(lin.weight.detach()),
        _sigma(conv.weight.detach().reshape(6, -1)),
        _sigma(convt.weight.detach().permute(1, 0, 2, 3).reshape(5, -1)),
    ]
    wrong = [
        _sigma(conv.weight.detach().transpose(0, 1).reshape(2, -1)),  # the other dimension
        _sigma(convt.weight.detach().reshape(3, -1)),
    ]
    assert all(abs(a - b) > 1e-3 for a, b in zip(by_hand[1:], wrong))
    assert largest_singular_values(nn.Sequential(lin, nn.ReLU(), conv, convt)) == pytest.approx(by_hand, rel=1e-5)


def test_spectral_norm_normalizes_the_output_major_matrix_of_every_layer_kind():
    torch.manual_seed(0)
    conv, convt = nn.Conv2d(2, 6, 3), nn.ConvTranspose2d(3, 5, 4)
    apply_spectral_norm(conv)
    apply_spectral_norm(convt)
    for _ in range(80):  # one power iteration per training-mode forward
        conv(torch.randn(1, 2, 5, 5))
        convt(torch.randn(1, 3, 3, 3))
    conv.eval(), convt.eval()
    assert _sigma(conv.weight.detach().reshape(6, -1)) == pytest.approx(1.0, abs=1e-2)
    assert _sigma(convt.weight.detach().permute(1, 0, 2, 3).reshape(5, -1)) == pytest.approx(1.0, abs=1e-2)


def test_the_constraint_entries_clip_after_a_step_and_normalize_once():
    from earthmover.losses.constraints import Clip, SpectralNorm

    net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(100)
    expected = [p.detach().clamp(-0.05, 0.05) for p in net.parameters()]
    assert Clip(value=0.05).after_step(net) is None
    assert all(torch.equal(p, e) for p, e in zip(net.parameters(), expected))
    assert Clip(value=0.05).apply(net) is net and SpectralNorm(value=True).after_step(net) is None
    out = SpectralNorm(value=True).apply(net)
    assert out is net
    for layer in (net[0], net[2]):
        assert parametrize.is_parametrized(layer, "weight") and len(layer.parametrizations.weight) == 1
        assert layer.parametrizations.weight[0].n_power_iterations == 1
