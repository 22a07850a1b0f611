"""The WGAN-GP paper's convolutional networks: its MNIST networks and the DCGAN-shaped
family behind Figure 2 (Gulrajani et al. 2017; gan_mnist.py and gan_64x64.py of
igul222/improved_wgan_training, ported, not copied).

Both sides use 5x5 stride-2 (de)convolutions between a 4x4 map and the image.
Side 28 crops the generator's 8x8 map to 7x7 (as the MNIST script does); sides 32
and 64 take three and four stages. Channels halve from the top stage down to
``dim`` in the generator and double from ``dim`` in the critic, unless
``constant`` (Figure 2's "constant number of filters": ``dim`` everywhere).
Activations are ``relu``/``lrelu``/``tanh``/``gated`` (gated layers compute twice
the channels and halve them). Images in [-1, 1]: the generator ends in tanh.
"""

from __future__ import annotations

import torch
from torch import nn

from earthmover.errors import EarthmoverError
from earthmover.nets.layers import Crop, TrunkCritic, activation, conv5, deconv5, norm2d
from earthmover.nets.registry import Architecture, NetSpec, auto_encoder, register

SIZES = {28: 3, 32: 3, 64: 4}  # side -> number of 2x stages between 4x4 and the image


def stages(side: int) -> int:
    if side not in SIZES:
        raise EarthmoverError(
            f"these convolutional networks take square images of side {', '.join(map(str, SIZES))}, "
            f"got {side}; set data.image_size to one of them to resize"
        )
    return SIZES[side]


class ConvGenerator(nn.Module):
    """z -> Linear to a 4x4 map -> 5x5 stride-2 deconvolutions -> tanh image.

    ``norm`` after the linear layer and each hidden deconvolution ("batch" for the DCGAN
    baseline, "none" for the WGAN-GP MNIST generator and Figure 2's unnormalized variants).
    """

    def __init__(
        self,
        latent_dim: int = 128,
        image_size: int = 28,
        channels: int = 1,
        dim: int = 64,
        norm: str = "none",
        act: str = "relu",
        constant: bool = False,
    ):
        super().__init__()
        n = stages(image_size)
        self.latent_dim = latent_dim
        widths = (
            [dim] * n if constant else [dim * 2 ** (n - 1 - i) for i in range(n)]
        )  # 4x4 map, then each hidden stage
        gate = 2 if act == "gated" else 1
        self.seed_shape = (widths[0] * gate, 4, 4)
        self.project = nn.Linear(latent_dim, widths[0] * gate * 16)
        head: list[nn.Module] = [norm2d(norm, widths[0] * gate), activation(act)]
        layers: list[nn.Module] = []
        for i in range(n - 1):
            layers += [deconv5(widths[i], widths[i + 1] * gate), norm2d(norm, widths[i + 1] * gate), activation(act)]
            if i == 0 and image_size == 28:
                layers.append(Crop(7))
        layers += [deconv5(widths[-1], channels), nn.Tanh()]
        self.head = nn.Sequential(*head)
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.head(self.project(z).view(-1, *self.seed_shape)))


class ConvCritic(TrunkCritic):
    """x -> 5x5 stride-2 convolutions to a 4x4 map -> Linear score.

    ``norm`` after every convolution but the first (the WGAN-GP code puts batch norm there
    for DCGAN and layer norm under a gradient penalty; "none" in its MNIST critic).
    Returns CriticOutput(score, features = the flattened 4x4 map).
    """

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        dim: int = 64,
        norm: str = "none",
        act: str = "lrelu",
        constant: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        n = stages(image_size)
        self.image_size, self.channels = image_size, channels
        widths = [dim] * n if constant else [dim * 2**i for i in range(n)]
        gate = 2 if act == "gated" else 1
        layers: list[nn.Module] = []
        cin = channels
        for i, w in enumerate(widths):
            layers += [conv5(cin, w * gate), norm2d(norm if i else "none", w * gate), activation(act)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            cin = w
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.feature_dim = widths[-1] * 16
        self.out = nn.Linear(self.feature_dim, 1)


class FCGenerator(nn.Module):
    """Figure 2's "512-dim 4-layer ReLU MLP" generator: 4 hidden ReLU layers, tanh image."""

    def __init__(self, latent_dim: int = 128, shape: tuple[int, ...] = (1, 28, 28), width: int = 512, depth: int = 4):
        super().__init__()
        self.latent_dim, self.shape = latent_dim, tuple(shape)
        layers: list[nn.Module] = []
        dim = latent_dim
        for _ in range(depth):
            layers += [nn.Linear(dim, width), nn.ReLU()]
            dim = width
        self.body = nn.Sequential(*layers, nn.Linear(dim, int(torch.Size(shape).numel())), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z).view(-1, *self.shape)


# ---------------------------------------------------------------------- registration (model.arch)


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
        return auto_encoder(spec, net, decoder)

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
