"""The architectures a run can name (``model.arch``), in one registry.

An :class:`Architecture` says which samples it takes (flat vectors, square
images of some sides), its default latent size and width, and how to build its
generator and critic from a :class:`NetSpec`. ``train/build.py`` asks the
registry and never names an architecture itself; adding one is one entry here.

    arch = resolve_architecture("auto", (1, 28, 28))     # dcgan for images, mlp for flat samples
    generator, critic, latent_dim = build_networks(arch.name, NetSpec((1, 28, 28)))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from earthmover.errors import EarthmoverError

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
    variants: bool = True
    """Has the auto-encoder critic (EBGAN) and the model.critic_norm / model.dropout variants."""
    """Takes (C, H, W) images."""
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
                    f"model.arch = {self.name!r} needs image data, but the data has samples of shape {shape}; use model.arch = 'mlp'"
                )
            return
        if not self.images:
            raise EarthmoverError(
                f"model.arch = {self.name!r} takes flat samples, but the data has images of shape {shape}; use model.arch = 'auto'"
            )
        if self.sizes and (shape[1] != shape[2] or shape[1] not in self.sizes):
            got = f"{shape[1]}x{shape[2]}" if shape[1] != shape[2] else f"{shape[1]}"
            raise EarthmoverError(
                f"the {self.name} architecture takes square images of side {', '.join(map(str, self.sizes))}, got {got}; "
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


ARCHITECTURES: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    if arch.name in ARCHITECTURES or arch.name == "auto":
        raise ValueError(f"architecture {arch.name!r} is already registered")
    ARCHITECTURES[arch.name] = arch
    return arch


def get_architecture(name: str) -> Architecture:
    if name not in ARCHITECTURES:
        from earthmover.errors import did_you_mean

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


# ---------------------------------------------------------------------- the built-in architectures


class Reshape(nn.Module):
    """A flat generator's output viewed as samples of `shape` (the mlp on images), squashed to
    [-1, 1] by tanh when `squash` (images), as the WGAN-GP paper's MLP generator does."""

    def __init__(self, net: nn.Module, shape: tuple[int, ...], squash: bool = False):
        super().__init__()
        self.net, self.shape, self.squash = net, tuple(shape), squash

    def forward(self, z):
        x = self.net(z).view(-1, *self.shape)
        return torch.tanh(x) if self.squash else x


def _mlp_generator(spec: NetSpec) -> nn.Module:
    from earthmover.nets.mlp import MLPGenerator

    net = MLPGenerator(spec.latent_dim, spec.numel, spec.width, spec.depth)
    return Reshape(net, spec.sample_shape, squash=True) if spec.is_image else net


def _mlp_critic(spec: NetSpec) -> nn.Module:
    from earthmover.nets.mlp import AutoEncoderCritic, MLPCritic

    if spec.auto_encoder:
        return AutoEncoderCritic(spec.numel, spec.width, spec.depth, norm=spec.critic_norm, dropout=spec.dropout)
    return MLPCritic(spec.numel, spec.width, spec.depth, spec.critic_norm, spec.dropout)


def _dcgan_generator(spec: NetSpec) -> nn.Module:
    from earthmover.nets.dcgan import DCGANGenerator

    return DCGANGenerator(spec.latent_dim, spec.side, spec.channels, spec.width)


def _dcgan_critic(spec: NetSpec) -> nn.Module:
    from earthmover.nets.dcgan import DCGANAutoEncoderCritic, DCGANCritic

    cls = DCGANAutoEncoderCritic if spec.auto_encoder else DCGANCritic
    return cls(spec.side, spec.channels, spec.width, norm=spec.critic_norm, dropout=spec.dropout)


register(
    Architecture(
        "mlp",
        "fully connected ReLU layers of `width` units, `depth` of them: 3x512 on flat data (the WGAN-GP toy "
        "networks), 4x512 with a tanh output on images (the WGAN/WGAN-GP MLP generator); any sample shape",
        _mlp_generator,
        _mlp_critic,
        latent_dim=100,
        width=512,
        images=True,
        flat=True,
        flat_latent_dim=2,
        image_depth=4,
    )
)
register(
    Architecture(
        "dcgan",
        "DCGAN convolutions (Radford et al. 2016): batch norm in the generator, strided convolutions in the critic",
        _dcgan_generator,
        _dcgan_critic,
        latent_dim=100,
        width=64,
        sizes=(28, 32, 64),
    )
)


# ---------------------------------------------------------------------- the WGAN-GP paper's networks
#
# Each critic normalizes where its paper put batch norm, with what spec.critic_norm names: "layer"
# (what the WGAN-GP code uses under a gradient penalty), "none", or "batch" (only without penalties).
# Under EBGAN (spec.auto_encoder) the critic is the critic trunk plus a decoder of the same family
# that holds no batch statistics unless critic_norm is "batch".


def _auto_encoder(spec: NetSpec, critic: nn.Module, decoder: Callable[[NetSpec, str], nn.Module], code_dim: int = 64):
    if not spec.auto_encoder:
        return critic
    from earthmover.nets.autoencoder import AutoEncoderCritic

    return AutoEncoderCritic(critic, decoder(replace(spec, latent_dim=code_dim), spec.critic_norm), code_dim)


def _conv_pair(
    name: str,
    summary: str,
    g_norm: str = "batch",
    g_act: str = "relu",
    d_act: str = "lrelu",
    d_norm: bool = True,
    constant_g: bool = False,
    fc_generator: bool = False,
    width: int = 64,
):
    """Register one member of the DCGAN-shaped family (nets/conv.py)."""
    from earthmover.nets.conv import SIZES, ConvCritic, ConvGenerator, FCGenerator

    def generator(spec: NetSpec, norm: str = g_norm) -> nn.Module:
        if fc_generator:
            return FCGenerator(spec.latent_dim, spec.sample_shape, 512, 4)
        return ConvGenerator(
            spec.latent_dim, spec.side, spec.channels, spec.width, norm=norm, act=g_act, constant=constant_g
        )

    def decoder(spec: NetSpec, norm: str) -> nn.Module:
        return ConvGenerator(
            spec.latent_dim,
            spec.side,
            spec.channels,
            spec.width,
            norm=norm if g_norm != "none" else "none",
            act=g_act,
            constant=constant_g,
        )

    def critic(spec: NetSpec) -> nn.Module:
        net = ConvCritic(
            spec.side,
            spec.channels,
            spec.width,
            norm=spec.critic_norm if d_norm else "none",
            act=d_act,
            dropout=spec.dropout,
        )
        return _auto_encoder(spec, net, decoder)

    register(Architecture(name, summary, generator, critic, latent_dim=128, width=width, sizes=tuple(SIZES)))


_conv_pair(
    "wgan-gp-mnist",
    "the WGAN-GP paper's MNIST networks (gan_mnist.py): 5x5 stride-2 (de)convolutions 4*DIM, 2*DIM, DIM; "
    "no normalization; LeakyReLU 0.2 critic; DIM 64",
    g_norm="none",
)
_conv_pair(
    "fig2-baseline",
    "WGAN-GP Figure 2 baseline (gan_64x64.py DCGAN): batch norm in the generator, critic norm per model.critic_norm",
)
_conv_pair(
    "fig2-constant-filters",
    "WGAN-GP Figure 2: generator without batch norm and with a constant number of filters; DCGAN critic",
    g_norm="none",
    constant_g=True,
)
_conv_pair("fig2-mlp-g", "WGAN-GP Figure 2: a 4-layer 512-unit ReLU MLP generator; DCGAN critic", fc_generator=True)
_conv_pair(
    "fig2-no-norm",
    "WGAN-GP Figure 2: DCGAN shape with no normalization anywhere (model.critic_norm is ignored)",
    g_norm="none",
    d_norm=False,
)
_conv_pair(
    "fig2-gated",
    "WGAN-GP Figure 2: gated multiplicative nonlinearities (sigmoid(a) * tanh(b)) in both networks",
    g_act="gated",
    d_act="gated",
)
_conv_pair("fig2-tanh", "WGAN-GP Figure 2: tanh nonlinearities in both networks", g_act="tanh", d_act="tanh")


def _infogan_generator(spec: NetSpec, norm: str = "batch") -> nn.Module:
    from earthmover.nets.infogan import InfoGANGenerator

    return InfoGANGenerator(spec.latent_dim, spec.side, spec.channels, spec.width, norm=norm)


def _infogan_critic(spec: NetSpec) -> nn.Module:
    from earthmover.nets.infogan import InfoGANCritic

    net = InfoGANCritic(spec.side, spec.channels, spec.width, norm=spec.critic_norm, dropout=spec.dropout)
    return _auto_encoder(spec, net, _infogan_generator)


register(
    Architecture(
        "infogan-mnist",
        "the InfoGAN paper's MNIST networks (openai/InfoGAN): generator FC 1024, FC 7x7x128, 4x4 "
        "deconvolutions 64 and 1 (batch norm); critic 4x4 convolutions 64, 128, FC 1024 shared with the Q head, "
        "lReLU 0.1 (normalization per model.critic_norm)",
        _infogan_generator,
        _infogan_critic,
        latent_dim=74,
        width=64,
        sizes=(28, 32, 64),
    )
)


def _resnet_generator(spec: NetSpec, norm: str = "batch") -> nn.Module:
    from earthmover.nets.resnet import ResNetGenerator

    return ResNetGenerator(spec.latent_dim, spec.side, spec.channels, spec.width, norm=norm)


def _resnet_critic(spec: NetSpec) -> nn.Module:
    from earthmover.nets.resnet import ResNetCritic

    net = ResNetCritic(spec.side, spec.channels, spec.width, norm=spec.critic_norm, dropout=spec.dropout)
    return _auto_encoder(spec, net, _resnet_generator)


register(
    Architecture(
        "resnet",
        "the WGAN-GP / SN-GAN CIFAR-10 ResNet: 128 channels, three up-blocks (batch norm) in the generator, "
        "four blocks in the critic (no normalization unless model.critic_norm)",
        _resnet_generator,
        _resnet_critic,
        latent_dim=128,
        width=128,
        sizes=(28, 32, 64),
    )
)


def _progressive_generator(spec: NetSpec) -> nn.Module:
    from earthmover.nets.progressive import ProgressiveGenerator

    net = ProgressiveGenerator(
        spec.latent_dim, spec.side, spec.channels, fmap_base=8 * spec.width, fmap_max=spec.width, output_tanh=True
    )
    net.set_stage(spec.side)  # full resolution, unless model.grow's schedule says otherwise
    return net


def _progressive_critic(spec: NetSpec) -> nn.Module:
    from earthmover.nets.progressive import ProgressiveCritic

    if spec.auto_encoder or spec.critic_norm != "none" or spec.dropout:
        raise EarthmoverError(
            "the progressive critic has no auto-encoder, normalization or dropout variant; "
            "use another model.arch for EBGAN, model.critic_norm or model.dropout"
        )
    net = ProgressiveCritic(spec.side, spec.channels, fmap_base=8 * spec.width, fmap_max=spec.width)
    net.set_stage(spec.side)
    return net


register(
    Architecture(
        "progressive",
        "Progressive GAN (Karras et al. 2018): equalized learning rate, pixel norm, 4x4 up to the data's side; "
        "grown with model.grow, else trained at full resolution",
        _progressive_generator,
        _progressive_critic,
        latent_dim=128,
        width=128,
        sizes=(8, 16, 32, 64, 128),
        variants=False,
    )
)


def _deep_generator(spec: NetSpec, norm: str = "batch") -> nn.Module:
    from earthmover.nets.resnet import DeepResNetGenerator

    return DeepResNetGenerator(spec.latent_dim, spec.side, spec.channels, spec.width, spec.depth, norm=norm)


def _deep_critic(spec: NetSpec) -> nn.Module:
    from earthmover.nets.resnet import DeepResNetCritic

    net = DeepResNetCritic(
        spec.side, spec.channels, spec.width, spec.depth, norm=spec.critic_norm, dropout=spec.dropout
    )
    return _auto_encoder(spec, net, _deep_generator)


register(
    Architecture(
        "fig2-resnet",
        "WGAN-GP Figure 2: a deep bottleneck ResNet in both networks, model.depth weight layers (101 by default)",
        _deep_generator,
        _deep_critic,
        latent_dim=128,
        width=64,
        sizes=(28, 32, 64),
        depth=101,
    )
)
