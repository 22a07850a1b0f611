"""The architectures a run can name (``model.arch``), in one registry.

An :class:`Architecture` says which samples it takes (flat vectors, square
images of some sides), its default latent size and width, and how to build its
generator and critic from a :class:`NetSpec`. Each architecture registers itself in
its own module (``nets/mlp.py``, ``nets/dcgan.py``, ``nets/conv.py``, ...), which
``earthmover.nets`` imports; a plug-in module does the same. ``train/build.py`` asks the
registry and never names an architecture itself.

    arch = resolve_architecture("auto", (1, 28, 28))     # dcgan for images, mlp for flat samples
    generator, critic, latent_dim = build_networks(arch.name, NetSpec((1, 28, 28)))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from earthmover.errors import EarthmoverError, did_you_mean
from earthmover.nets.autoencoder import AutoEncoderCritic
from earthmover.registry import Registry

CRITIC_NORMS = ("none", "layer", "batch")


@dataclass(frozen=True)
class NetSpec:
    """What the networks are asked for, independent of any architecture."""

    sample_shape: tuple[int, ...]
    """One sample: (D,) for flat data, (C, H, W) for images."""
    latent_dim: int = 0
    """0 = the architecture's default."""
    width: int = 0
    """Hidden units or base channels; 0 = the architecture's default."""
    depth: int = 0
    """Hidden layers (mlp), or weight layers (fig2-resnet); 0 = the architecture's default."""
    critic_norm: str = "none"
    """none | layer | batch. Batch statistics couple samples: never with a gradient penalty."""
    dropout: float = 0.0
    """Dropout in the critic (the consistency term needs it)."""
    auto_encoder: bool = False
    """EBGAN: the critic is an auto-encoder returning CriticOutput(score=energy, features=codes)."""

    def __post_init__(self):
        object.__setattr__(self, "sample_shape", tuple(int(s) for s in self.sample_shape))
        if self.critic_norm not in CRITIC_NORMS:
            raise EarthmoverError(
                f"model.critic_norm = {self.critic_norm!r} is invalid; expected one of {', '.join(CRITIC_NORMS)}"
            )

    @property
    def is_image(self) -> bool:
        return len(self.sample_shape) == 3

    @property
    def channels(self) -> int:
        return self.sample_shape[0]

    @property
    def side(self) -> int:
        return self.sample_shape[-1]

    @property
    def numel(self) -> int:
        return int(torch.Size(self.sample_shape).numel())


@dataclass(frozen=True)
class Architecture:
    """One registered architecture: the builders and what they accept."""

    name: str
    summary: str
    """One line for --help and the README."""
    generator: Callable[[NetSpec], nn.Module]
    """Builds the generator from a spec whose latent_dim and width are already resolved."""
    critic: Callable[[NetSpec], nn.Module]
    """Builds the critic (an auto-encoder when spec.auto_encoder) from a resolved spec."""
    latent_dim: int = 100
    """Default latent size for images."""
    width: int = 64
    """Default width (hidden units or base channels)."""
    sizes: tuple[int, ...] = ()
    """Square image sides it takes; () with images=True means any size."""
    images: bool = True
    """Takes (C, H, W) images."""
    variants: bool = True
    """Has the auto-encoder critic (EBGAN) and the model.critic_norm / model.dropout variants."""
    flat: bool = False
    """Takes flat (D,) samples."""
    flat_latent_dim: int = 2
    """Default latent size for flat samples."""
    depth: int = 3
    """Default depth, for the architectures that read one."""
    image_depth: int = 0
    """Default depth on images, where it differs (0: the same as depth)."""

    def check(self, shape: tuple[int, ...]) -> None:
        """Raise a one-line EarthmoverError when this architecture cannot take samples of `shape`."""
        shape = tuple(shape)
        if len(shape) != 3:
            if not self.flat:
                raise EarthmoverError(
                    f"model.arch = {self.name!r} needs image data, but the data has samples of shape {shape}; use "
                    "model.arch = 'mlp'"
                )
            return
        if not self.images:
            raise EarthmoverError(
                f"model.arch = {self.name!r} takes flat samples, but the data has images of shape {shape}; use "
                "model.arch = 'auto'"
            )
        if self.sizes and (shape[1] != shape[2] or shape[1] not in self.sizes):
            got = f"{shape[1]}x{shape[2]}" if shape[1] != shape[2] else f"{shape[1]}"
            raise EarthmoverError(
                f"the {self.name} architecture takes square images of side {', '.join(map(str, self.sizes))}, got "
                f"{got}; "
                f"set data.image_size to one of them to resize"
            )

    def resolve(self, spec: NetSpec) -> NetSpec:
        """`spec` with the defaults filled in (latent_dim, width, depth), after checking the shape."""
        self.check(spec.sample_shape)
        latent = spec.latent_dim or (self.latent_dim if spec.is_image else self.flat_latent_dim)
        depth = spec.depth or (self.image_depth if spec.is_image and self.image_depth else self.depth)
        return replace(spec, latent_dim=latent, width=spec.width or self.width, depth=depth)

    def build_generator(self, spec: NetSpec) -> tuple[nn.Module, int]:
        spec = self.resolve(spec)
        return self.generator(spec), spec.latent_dim

    def build_critic(self, spec: NetSpec) -> nn.Module:
        return self.critic(self.resolve(spec))


ARCHITECTURES: Registry[Architecture] = Registry(
    "architecture", "generator and critic builders a run names with model.arch (nets/*.py register theirs)"
)


def register(arch: Architecture, *, replace: bool = False) -> Architecture:
    """Register `arch` under its name (the one way an architecture is added, built-in or plug-in)."""
    if arch.name == "auto":
        raise EarthmoverError("'auto' is reserved for model.arch's automatic choice; name the architecture otherwise")
    return ARCHITECTURES.register(arch.name, arch, replace=replace)


def get_architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        raise EarthmoverError(
            f"model.arch = {name!r} is invalid; expected auto or one of {', '.join(ARCHITECTURES)}"
            f"{did_you_mean(name, ARCHITECTURES)}"
        )
    return ARCHITECTURES[name]


def resolve_architecture(name: str, shape: tuple[int, ...]) -> Architecture:
    """The architecture `name` stands for on samples of `shape` ("auto": mlp for flat samples, dcgan for
    images), checked against the shape (one-line EarthmoverError when it cannot take it)."""
    if name == "auto":
        name = "dcgan" if len(tuple(shape)) == 3 else "mlp"
    arch = get_architecture(name)
    arch.check(shape)
    return arch


def build_networks(arch_name: str, spec: NetSpec) -> tuple[nn.Module, nn.Module, int]:
    """(generator, critic, latent_dim) of architecture `arch_name` ("auto" allowed) for `spec`.
    The generator is built first, then the critic (the order the global RNG sees)."""
    arch = resolve_architecture(arch_name, spec.sample_shape)
    generator, latent_dim = arch.build_generator(spec)
    return generator, arch.build_critic(spec), latent_dim


# ---------------------------------------------------------------------- helpers the architectures share
#
# Each critic normalizes where its paper put batch norm, with what spec.critic_norm names: "layer"
# (what the WGAN-GP code uses under a gradient penalty), "none", or "batch" (only without penalties).
# Under EBGAN (spec.auto_encoder) the critic is the critic trunk plus a decoder of the same family
# that holds no batch statistics unless critic_norm is "batch".


class Reshape(nn.Module):
    """A flat generator's output viewed as samples of `shape` (the mlp on images), squashed to
    [-1, 1] by tanh when `squash` (images), as the WGAN-GP paper's MLP generator does."""

    def __init__(self, net: nn.Module, shape: tuple[int, ...], squash: bool = False):
        super().__init__()
        self.net, self.shape, self.squash = net, tuple(shape), squash

    def forward(self, z):
        x = self.net(z).view(-1, *self.shape)
        return torch.tanh(x) if self.squash else x


def auto_encoder(spec: NetSpec, critic: nn.Module, decoder: Callable[[NetSpec, str], nn.Module], code_dim: int = 64):
    """`critic` itself, or (EBGAN, ``spec.auto_encoder``) `critic` plus a decoder of the same family
    built by ``decoder(spec, norm)``: an auto-encoder whose score is the reconstruction energy."""
    if not spec.auto_encoder:
        return critic
    return AutoEncoderCritic(critic, decoder(replace(spec, latent_dim=code_dim), spec.critic_norm), code_dim)
