"""The InfoGAN paper's MNIST networks (Chen et al. 2016, Appendix C.1; ``openai/InfoGAN``,
infogan/models/regularized_gan.py, ``network_type == "mnist"``), ported, not copied.

Generator (latent 74 = 62 noise + 10 one-hot + 2 continuous on MNIST)::

    FC 1024 - BN - ReLU - FC (side/4)^2 * 128 - BN - ReLU
    - 4x4 stride-2 deconvolution 64 - BN - ReLU - 4x4 stride-2 deconvolution to the image

Critic (discriminator D and the trunk it shares with InfoGAN's Q head)::

    4x4 stride-2 convolution 64 - lReLU - 4x4 stride-2 convolution 128 - BN - lReLU
    - FC 1024 - BN - lReLU  (the shared features)  - FC 1 (the score)

Q, in the paper, is FC 128 - BN - lReLU - FC codes on the shared 1,024 features; here it is the
InfoGAN head (losses/infogan.py), which reads :attr:`CriticOutput.features`.

What differs from the authors' code, and why:

* Images are in [-1, 1], so the generator ends in tanh (theirs: a sigmoid, a Bernoulli mean in [0, 1]).
* The critic's two batch norms follow ``model.critic_norm`` ("none" by default, "layer" under a gradient
  penalty, "batch" for the paper's exact critic, allowed only without a per-sample penalty).
* The leaky slope is the paper's 0.1 (the code's ``leaky_rectify`` default is 0.01).

Channels scale with ``width`` (64 in the paper): the convolutions are ``width`` and ``2 width``,
the fully connected layer ``16 width`` (1,024). Any side divisible by 4 fits the design; the
registry admits 28 (MNIST), 32 and 64.
"""

from __future__ import annotations

import torch
from torch import nn

from earthmover.errors import EarthmoverError
from earthmover.nets.layers import TrunkCritic, norm1d, norm2d
from earthmover.nets.registry import Architecture, NetSpec, auto_encoder, register

LEAKY_SLOPE = 0.1


def seed_side(image_size: int) -> int:
    """The side of the generator's first map: a quarter of the image (two 2x upsamplings)."""
    if image_size % 4 or image_size < 8:
        raise EarthmoverError(
            f"the infogan-mnist networks take square images whose side is a multiple of 4 (at least 8), "
            f"got {image_size}; set data.image_size to 28 or 32"
        )
    return image_size // 4


class InfoGANGenerator(nn.Module):
    """z -> FC 16w -> FC (side/4)^2 2w -> deconvolution w -> deconvolution to the image (tanh)."""

    def __init__(
        self, latent_dim: int = 74, image_size: int = 28, channels: int = 1, width: int = 64, norm: str = "batch"
    ):
        super().__init__()
        seed = seed_side(image_size)
        self.latent_dim = latent_dim
        self.seed_shape = (2 * width, seed, seed)
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 16 * width),
            norm1d(norm, 16 * width),
            nn.ReLU(),
            nn.Linear(16 * width, 2 * width * seed * seed),
            norm1d(norm, 2 * width * seed * seed),
            nn.ReLU(),
        )
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            norm2d(norm, width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z).view(-1, *self.seed_shape))


class InfoGANCritic(TrunkCritic):
    """x -> convolution w -> convolution 2w (norm) -> FC 16w (norm): the shared features -> FC 1: the score."""

    def __init__(
        self, image_size: int = 28, channels: int = 1, width: int = 64, norm: str = "none", dropout: float = 0.0
    ):
        super().__init__()
        seed = seed_side(image_size)
        self.image_size, self.channels = image_size, channels
        drop = [nn.Dropout(dropout)] if dropout else []
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            norm2d(norm, 2 * width),
            nn.LeakyReLU(LEAKY_SLOPE),
            *drop,
            nn.Flatten(),
            nn.Linear(2 * width * seed * seed, 16 * width),
            norm1d(norm, 16 * width),
            nn.LeakyReLU(LEAKY_SLOPE),
            *drop,
        )
        self.feature_dim = 16 * width
        self.out = nn.Linear(self.feature_dim, 1)


# ---------------------------------------------------------------------- registration (model.arch)


def _infogan_generator(spec: NetSpec, norm: str = "batch") -> nn.Module:
    return InfoGANGenerator(spec.latent_dim, spec.side, spec.channels, spec.width, norm=norm)


def _infogan_critic(spec: NetSpec) -> nn.Module:
    net = InfoGANCritic(spec.side, spec.channels, spec.width, norm=spec.critic_norm, dropout=spec.dropout)
    return auto_encoder(spec, net, _infogan_generator)


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
