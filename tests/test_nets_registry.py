"""The architecture registry: names, defaults, shape checks, and the networks it builds."""

import dataclasses

import pytest
import torch

from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import as_critic_output
from earthmover.nets.registry import ARCHITECTURES, NetSpec, build_networks, get_architecture, resolve_architecture


def test_auto_is_mlp_for_flat_samples_and_dcgan_for_images():
    assert resolve_architecture("auto", (2,)).name == "mlp"
    assert resolve_architecture("auto", (1, 28, 28)).name == "dcgan"
    assert resolve_architecture("auto", (3, 64, 64)).name == "dcgan"


def test_netspec_is_frozen_and_checks_the_norm():
    spec = NetSpec((2,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.width = 3
    with pytest.raises(EarthmoverError, match="critic_norm = 'group'"):
        NetSpec((2,), critic_norm="group")


def test_every_architecture_has_a_summary_and_defaults():
    for name, arch in ARCHITECTURES.items():
        assert arch.name == name and arch.summary and "\n" not in arch.summary
        assert arch.latent_dim > 0 and arch.width > 0


def test_defaults_fill_in_latent_and_width():
    g, c, latent = build_networks("auto", NetSpec((2,)))
    assert latent == 2 and g.body[0].out_features == 512
    g, c, latent = build_networks("dcgan", NetSpec((1, 28, 28)))
    assert latent == 100
    g, c, latent = build_networks("dcgan", NetSpec((1, 28, 28), latent_dim=7, width=4))
    assert latent == 7 and g(torch.randn(3, 7)).shape == (3, 1, 28, 28)


def test_registry_builds_what_the_classes_build():
    """The registry is a front for today's classes: same modules, same initialization from the same seed."""
    from earthmover.nets.dcgan import DCGANCritic, DCGANGenerator
    from earthmover.nets.mlp import MLPCritic, MLPGenerator

    torch.manual_seed(0)
    g, c, _ = build_networks("dcgan", NetSpec((1, 32, 32), latent_dim=8, width=4, critic_norm="layer"))
    torch.manual_seed(0)
    g0, c0 = DCGANGenerator(8, 32, 1, 4), DCGANCritic(32, 1, 4, norm="layer")
    for a, b in ((g, g0), (c, c0)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    torch.manual_seed(0)
    g, c, _ = build_networks("mlp", NetSpec((2,), width=16, depth=2))
    torch.manual_seed(0)
    g0, c0 = MLPGenerator(2, 2, 16, 2), MLPCritic(2, 16, 2)
    for a, b in ((g, g0), (c, c0)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_mlp_on_images_reshapes():
    g, c, latent = build_networks("mlp", NetSpec((1, 8, 8), width=16, depth=2))
    x = g(torch.randn(5, latent))
    assert x.shape == (5, 1, 8, 8)
    assert as_critic_output(c(x)).score.shape == (5,)


def test_auto_encoder_critic_returns_energy_and_codes():
    for shape, arch in (((2,), "mlp"), ((1, 28, 28), "dcgan")):
        _, c, _ = build_networks(arch, NetSpec(shape, width=4, auto_encoder=True))
        out = c(torch.randn(3, *shape))
        assert out.score.shape == (3,) and (out.score >= 0).all() and out.features.shape[0] == 3


@pytest.mark.parametrize(
    "name, shape, message",
    [
        ("dcgan", (1, 8, 8), "takes square images of side 28, 32, 64, got 8; set data.image_size"),
        ("dcgan", (1, 28, 32), "got 28x32"),
        ("dcgan", (2,), "needs image data"),
        ("dcgn", (1, 28, 28), "did you mean 'dcgan'"),
    ],
)
def test_unsupported_shapes_and_names_give_one_line_errors(name, shape, message):
    with pytest.raises(EarthmoverError, match=message) as info:
        build_networks(name, NetSpec(shape))
    assert "\n" not in str(info.value)


def test_get_architecture_lists_the_choices():
    with pytest.raises(EarthmoverError, match="expected auto or one of mlp, dcgan"):
        get_architecture("nope")


def test_mlp_on_images_is_the_4x512_tanh_generator():
    """Issue 9: `mlp` for images is the WGAN-GP paper's 4-layer 512-unit ReLU generator with a tanh output."""
    g, c, latent = build_networks("mlp", NetSpec((1, 28, 28)))
    linears = [m for m in g.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [512] * 4 + [784]
    x = g(torch.randn(4, latent) * 100)
    assert x.abs().max() <= 1
    g, _, _ = build_networks("mlp", NetSpec((2,)))
    assert [m.out_features for m in g.modules() if isinstance(m, torch.nn.Linear)] == [512] * 3 + [2]
