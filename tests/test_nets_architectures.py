"""Every registered image architecture: shapes at every size it takes, no batch statistics in a
critic that may meet a gradient penalty, one-line errors for sizes it cannot take, and one real
WGAN-GP step for each of the WGAN-GP paper's Figure 2 variants."""

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from earthmover import penalties
from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import as_critic_output
from earthmover.nets.registry import ARCHITECTURES, NetSpec, build_networks

MNIST_FIXTURE = str(Path(__file__).parent / "data" / "mnist_small.npz")
IMAGE_ARCHS = [name for name, arch in ARCHITECTURES.items() if arch.images]
VARIANT_ARCHS = [name for name in IMAGE_ARCHS if ARCHITECTURES[name].variants]  # auto-encoder and critic_norm variants
FIG2 = [name for name in ARCHITECTURES if name.startswith("fig2-")]
CASES = [(name, side) for name in IMAGE_ARCHS for side in (ARCHITECTURES[name].sizes or (28, 32, 64))]


def small(name, shape, **kw):
    """A narrow, shallow instance: shapes and structure do not depend on the width."""
    kw.setdefault("width", 8)
    if name == "fig2-resnet":
        kw.setdefault("depth", 14)
    return NetSpec(shape, **kw)


@pytest.mark.parametrize("name, side", CASES)
def test_shapes_at_every_supported_size(name, side):
    torch.manual_seed(0)
    for channels in (1, 3):
        g, c, latent = build_networks(name, small(name, (channels, side, side)))
        x = g(torch.randn(3, latent))
        assert x.shape == (3, channels, side, side)
        assert x.abs().max() <= 1  # images in [-1, 1]
        out = as_critic_output(c(x))
        assert out.score.shape == (3,) and out.features.shape[0] == 3
        if ARCHITECTURES[name].variants:
            ae = build_networks(name, small(name, (channels, side, side), auto_encoder=True))[1]
            out = ae(x)
            assert (
                out.score.shape == (3,)
                and (out.score >= 0).all()
                and out.features.shape[0] == 3
                and out.features.dim() == 2
            )


def _batch_statistics(module: nn.Module) -> list[str]:
    """Names of submodules that normalize over the batch or keep running statistics."""
    found = [
        name
        for name, m in module.named_modules()
        if isinstance(m, nn.modules.batchnorm._NormBase) and not isinstance(m, nn.modules.instancenorm._InstanceNorm)
    ]
    found += [name for name, _ in module.named_buffers() if "running" in name]
    return found


@pytest.mark.parametrize(
    "name, auto_encoder",
    [(n, ae) for n in IMAGE_ARCHS for ae in (False, True) if ae is False or ARCHITECTURES[n].variants],
)
def test_no_batch_statistics_in_a_critic_that_is_not_asked_for_them(name, auto_encoder):
    """For critic_norm 'none' and 'layer': no batch-norm module or running buffer anywhere in the critic
    (an EBGAN decoder included), and, in training mode, each sample's score is what it scores alone."""
    side = (ARCHITECTURES[name].sizes or (28,))[0]
    x = torch.rand(4, 1, side, side) * 2 - 1
    for norm in ("none", "layer") if ARCHITECTURES[name].variants else ("none",):
        torch.manual_seed(0)
        critic = build_networks(name, small(name, (1, side, side), critic_norm=norm, auto_encoder=auto_encoder))[1]
        assert _batch_statistics(critic) == [], (name, norm)
        critic.train()
        together = as_critic_output(critic(x)).score
        alone = torch.cat([as_critic_output(critic(x[i : i + 1])).score for i in range(4)])
        torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in VARIANT_ARCHS if n != "fig2-no-norm"])
def test_batch_norm_where_the_paper_has_it_only_when_asked(name):
    """The inspection above can fail: critic_norm 'batch' puts batch norm in the places the paper had it."""
    side = (ARCHITECTURES[name].sizes or (28,))[0]
    critic = build_networks(name, small(name, (1, side, side), critic_norm="batch"))[1]
    assert _batch_statistics(critic)


def test_ebgan_critic_from_the_config_has_no_batch_norm():
    """Issue 8, defect 3: EBGAN with a gradient penalty on dcgan built a decoder with 2 BatchNorm layers."""
    from earthmover.train.build import build_critic
    from earthmover.train.config import Config

    config = Config.from_preset("ebgan", penalty__gp=10, model__arch="dcgan")
    config.set("model.width", 4)
    critic = build_critic(config, (1, 28, 28))
    assert _batch_statistics(critic) == []


def _layers(module: nn.Module) -> int:
    """Weight layers outside the shortcuts (the count behind "101 layers")."""
    return sum(
        1
        for name, m in module.named_modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and "shortcut" not in name
    )


def test_fig2_resnet_depth_counts_layers():
    from earthmover.nets.resnet import plain_blocks_per_stage

    assert plain_blocks_per_stage(101, 5) == [6, 6, 6, 6, 5]  # gan_64x64.py's ResnetGenerator
    g, c, _ = build_networks("fig2-resnet", NetSpec((3, 64, 64), width=4))  # depth 0: the default, 101
    assert _layers(g) == 101 and _layers(c) == 101
    g, c, _ = build_networks("fig2-resnet", NetSpec((1, 28, 28), width=4, depth=20))
    assert _layers(g) == 20 and _layers(c) == 20


@pytest.mark.parametrize("name", IMAGE_ARCHS)
def test_unsupported_sizes_give_one_line_errors(name):
    if not ARCHITECTURES[name].sizes:
        pytest.skip("takes any size")
    side = next(s for s in (16, 20) if s not in ARCHITECTURES[name].sizes)
    with pytest.raises(EarthmoverError, match=f"got {side}; set data.image_size") as info:
        build_networks(name, NetSpec((1, side, side)))
    assert "\n" not in str(info.value)
    with pytest.raises(EarthmoverError, match="needs image data"):
        build_networks(name, NetSpec((2,)))


def test_too_shallow_a_deep_resnet_says_how_deep():
    with pytest.raises(EarthmoverError, match="model.depth = 5 .* at least 14"):
        build_networks("fig2-resnet", NetSpec((3, 64, 64), depth=5))


@pytest.mark.parametrize("name", ["wgan-gp-mnist", "resnet", *FIG2])
def test_one_real_wgan_gp_step(name, tmp_path, monkeypatch):
    """Each architecture trains under WGAN-GP on the MNIST fixture: one step runs, its terms are finite,
    and both networks' weights move."""
    from earthmover.train.loop import Trainer
    from helpers import tiny_config

    monkeypatch.setenv("EARTHMOVER_MNIST", MNIST_FIXTURE)
    config = tiny_config(
        "wgan-gp",
        **{
            "data.name": "mnist",
            "model.arch": name,
            "model.width": 8,
            "model.latent_dim": 16,
            "data.batch_size": 8,
            "optim.n_critic": 1,
            "model.critic_norm": "layer",
            "model.depth": 14 if name == "fig2-resnet" else 0,
        },
    )
    trainer = Trainer(config, quiet=True)
    before_g = [p.detach().clone() for p in trainer.generator.parameters()]
    before_c = [p.detach().clone() for p in trainer.critic.parameters()]
    critic_before = copy.deepcopy(trainer.critic)
    points = []  # the interpolates x^ the step's penalty drew (found through gradient_penalty's own globals)
    interpolate = penalties.gradient_penalty.__globals__["interpolate"]
    monkeypatch.setitem(
        penalties.gradient_penalty.__globals__,
        "interpolate",
        lambda *a, **k: points.append(interpolate(*a, **k)) or points[-1],
    )
    values = trainer.train_step()
    assert all(torch.isfinite(v).all() for v in values.values())
    # The logged penalty is lambda * E (||grad D(x^)||_2 - 1)^2 at the critic before its update, computed
    # here again from the same points (float64 sums); one critic step, so one set of points.
    assert len(points) == 1
    x_hat = points[0].detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(as_critic_output(critic_before(x_hat)).score.sum(), x_hat)
    norms = grad.double().flatten(1).norm(dim=1)
    expected = config.penalty.gp * (norms - 1).pow(2).mean()
    assert values["loss/gradient_penalty"].item() == pytest.approx(expected.item(), rel=1e-4)
    assert any(not torch.equal(a, b) for a, b in zip(before_g, trainer.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_c, trainer.critic.parameters()))
    assert trainer.sample(4, seed=0).shape == (4, 1, 28, 28)


@pytest.mark.parametrize("name", [n for n in IMAGE_ARCHS if n != "mlp"])
def test_a_critic_refuses_images_of_another_shape_in_one_line(name):
    side = (ARCHITECTURES[name].sizes or (28,))[0]
    _, critic, _ = build_networks(name, NetSpec((1, side, side)))
    with torch.no_grad():
        critic(torch.zeros(2, 1, side, side))  # its own shape is fine
        with pytest.raises(
            EarthmoverError, match=rf"expects images of shape \(1, {side}, {side}\), got \(3, {side}, {side}\)"
        ) as err:
            critic(torch.zeros(2, 3, side, side))
    assert "\n" not in str(err.value) and "data.image_size" in str(err.value)


def _weight_layers(module: nn.Module) -> list[tuple]:
    """(kind, in, out, kernel, stride) of each linear and (transposed) convolution, in order."""
    rows = []
    for m in module.modules():
        if isinstance(m, nn.Linear):
            rows.append(("fc", m.in_features, m.out_features))
        elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            kind = "deconv" if isinstance(m, nn.ConvTranspose2d) else "conv"
            rows.append((kind, m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]))
    return rows


def test_infogan_mnist_networks_are_the_papers_table():
    """The InfoGAN paper's MNIST networks (Appendix C.1, openai/InfoGAN regularized_gan.py): layer by layer,
    the batch norms where the paper has them, lReLU 0.1, and 1,024 shared features for the Q head."""
    g, c, latent = build_networks("infogan-mnist", NetSpec((1, 28, 28), critic_norm="batch"))
    assert latent == 74  # 62 noise + 10 one-hot + 2 continuous
    assert _weight_layers(g) == [
        ("fc", 74, 1024),
        ("fc", 1024, 7 * 7 * 128),
        ("deconv", 128, 64, 4, 2),
        ("deconv", 64, 1, 4, 2),
    ]
    assert _weight_layers(c) == [
        ("conv", 1, 64, 4, 2),
        ("conv", 64, 128, 4, 2),
        ("fc", 7 * 7 * 128, 1024),
        ("fc", 1024, 1),
    ]

    def norms(m):
        return [
            (type(n).__name__, n.num_features) for n in m.modules() if isinstance(n, nn.modules.batchnorm._BatchNorm)
        ]

    assert norms(g) == [("BatchNorm1d", 1024), ("BatchNorm1d", 6272), ("BatchNorm2d", 64)]
    assert norms(c) == [("BatchNorm2d", 128), ("BatchNorm1d", 1024)]
    assert {m.negative_slope for m in c.modules() if isinstance(m, nn.LeakyReLU)} == {0.1}
    out = c(g(torch.randn(5, latent)))
    assert out.score.shape == (5,) and out.features.shape == (5, 1024)
