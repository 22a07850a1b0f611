"""Convolutional networks for images (DCGAN shape, Radford et al. 2016).

Square images of side 28 (MNIST), 32 or 64, 1 or 3 channels, values in [-1, 1].
The generator upsamples from a 7x7 (side 28) or 4x4 (sides 32, 64) seed with
transposed convolutions; the critic mirrors it with strided convolutions.
The critic's normalization is ``"none"``, ``"layer"`` (per-sample, safe with
gradient penalties) or ``"batch"`` (the original DCGAN; not with penalties).
"""

from __future__ import annotations

import torch
from torch import nn

from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import CriticOutput
from earthmover.nets.layers import check_critic_input, norm1d, norm2d
from earthmover.nets.registry import Architecture, NetSpec, register

SUPPORTED_SIZES = {28: (7, 2), 32: (4, 3), 64: (4, 4)}  # side -> (seed side, number of 2x upsamplings)


def check_image_size(size: int) -> tuple[int, int]:
    if size not in SUPPORTED_SIZES:
        raise EarthmoverError(
            f"the dcgan architecture takes square images of side {sorted(SUPPORTED_SIZES)}, got {size}; "
            f"set data.image_size to one of them to resize"
        )
    return SUPPORTED_SIZES[size]


class DCGANGenerator(nn.Module):
    """``norm``: "batch" (DCGAN's), or "layer"/"none" where the generator serves as a penalized
    critic's decoder (EBGAN), which must hold no batch statistics."""

    def __init__(
        self, latent_dim: int = 100, image_size: int = 28, channels: int = 1, width: int = 64, norm: str = "batch"
    ):
        super().__init__()
        seed, ups = check_image_size(image_size)
        self.latent_dim = latent_dim
        top = width * 2 ** (ups - 1)
        self.project = nn.Sequential(
            nn.Linear(latent_dim, top * seed * seed), norm1d(norm, top * seed * seed), nn.ReLU()
        )
        self.seed_shape = (top, seed, seed)
        blocks: list[nn.Module] = []
        ch = top
        for _ in range(ups - 1):
            blocks += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1), norm2d(norm, ch // 2), nn.ReLU()]
            ch //= 2
        blocks += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z).view(-1, *self.seed_shape))


class DCGANCritic(nn.Module):
    def __init__(
        self, image_size: int = 28, channels: int = 1, width: int = 64, norm: str = "layer", dropout: float = 0.0
    ):
        super().__init__()
        seed, ups = check_image_size(image_size)
        self.image_size, self.channels = image_size, channels
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        ch = width
        for _ in range(ups - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1), norm2d(norm, ch * 2), nn.LeakyReLU(0.2)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            ch *= 2
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.out = nn.Linear(ch * seed * seed, 1)

    def forward(self, x: torch.Tensor) -> CriticOutput:
        check_critic_input(x, self.channels, self.image_size)
        h = self.body(x)
        return CriticOutput(score=self.out(h).squeeze(1), features=h)


class DCGANAutoEncoderCritic(nn.Module):
    """EBGAN critic for images: conv encoder to a code, transposed-conv decoder; energy = per-sample MSE."""

    def __init__(
        self,
        image_size: int = 28,
        channels: int = 1,
        width: int = 64,
        code_dim: int = 64,
        norm: str = "layer",
        dropout: float = 0.0,
    ):
        super().__init__()
        self.encoder_body = DCGANCritic(image_size, channels, width, norm, dropout).body
        seed, ups = check_image_size(image_size)
        self.to_code = nn.Linear(width * 2 ** (ups - 1) * seed * seed, code_dim)
        # the decoder takes the critic's normalization: batch norm here reached penalized EBGAN critics
        self.decoder = DCGANGenerator(code_dim, image_size, channels, width, norm=norm)

    def forward(self, x: torch.Tensor) -> CriticOutput:
        code = self.to_code(self.encoder_body(x))
        energy = (self.decoder(code) - x).pow(2).flatten(1).mean(dim=1)
        return CriticOutput(score=energy, features=code)


# ---------------------------------------------------------------------- registration (model.arch)


def _dcgan_generator(spec: NetSpec) -> nn.Module:
    return DCGANGenerator(spec.latent_dim, spec.side, spec.channels, spec.width)


def _dcgan_critic(spec: NetSpec) -> nn.Module:
    cls = DCGANAutoEncoderCritic if spec.auto_encoder else DCGANCritic
    return cls(spec.side, spec.channels, spec.width, norm=spec.critic_norm, dropout=spec.dropout)


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
