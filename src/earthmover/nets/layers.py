"""Small building blocks shared by the image architectures.

Normalization is chosen by name: ``"batch"`` (BatchNorm: batch statistics,
running buffers; never in a critic trained with a gradient penalty),
``"layer"`` (per-sample normalization over (C, H, W) with a per-channel scale
and offset, as the WGAN-GP code's layer norm; ``GroupNorm(1, C)``) or
``"none"``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import CriticOutput


def check_critic_input(x: torch.Tensor, channels: int, image_size: int) -> None:
    """A critic built for (channels, image_size, image_size) images refuses any other shape with one line."""
    if x.shape[1:] != (channels, image_size, image_size):
        raise EarthmoverError(
            f"the critic expects images of shape ({channels}, {image_size}, {image_size}), "
            f"got {tuple(x.shape[1:])}; set data.image_size/data.channels to match the data"
        )


class TrunkCritic(nn.Module):
    """A critic whose score is a linear layer on its trunk's flat features. A subclass sets ``body``
    (images -> (N, feature_dim)), ``feature_dim``, ``out`` (Linear(feature_dim, 1)), ``channels`` and
    ``image_size``; the features are what InfoGAN's Q, AC-GAN's logits and an EBGAN encoder read."""

    body: nn.Module
    feature_dim: int
    out: nn.Module
    channels: int
    image_size: int

    def forward(self, x: torch.Tensor) -> CriticOutput:
        check_critic_input(x, self.channels, self.image_size)
        h = self.features(x)
        return CriticOutput(score=self.out(h).squeeze(1), features=h)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def norm1d(kind: str, features: int) -> nn.Module:
    """The same choice for flat features: BatchNorm1d, LayerNorm, or nothing."""
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "layer":
        return nn.LayerNorm(features)
    return nn.Identity()


def norm2d(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # layer norm over (C, H, W), per sample
    return nn.Identity()


class Gated(nn.Module):
    """The gated multiplicative nonlinearity of PixelCNN (WGAN-GP Figure 2):
    sigmoid(even channels) * tanh(odd channels); halves the channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x[:, ::2]) * torch.tanh(x[:, 1::2])


def activation(kind: str) -> nn.Module:
    """relu | lrelu (slope 0.2) | tanh | gated."""
    makers: dict[str, Callable[[], nn.Module]] = {
        "relu": nn.ReLU,
        "lrelu": lambda: nn.LeakyReLU(0.2),
        "tanh": nn.Tanh,
        "gated": Gated,
    }
    return makers[kind]()


class Crop(nn.Module):
    """Keep the top-left `side` x `side` pixels (the WGAN-GP MNIST generator's 8x8 -> 7x7)."""

    def __init__(self, side: int):
        super().__init__()
        self.side = side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, : self.side, : self.side]


class UpsampleConv(nn.Module):
    """Nearest-neighbour 2x upsampling, then a same-size convolution."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class ConvMeanPool(nn.Module):
    """A same-size convolution, then 2x2 mean pooling (odd sides round up, like TensorFlow's 'SAME')."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)

    def forward(self, x):
        return F.avg_pool2d(self.conv(x), 2, ceil_mode=True)


class MeanPoolConv(nn.Module):
    """2x2 mean pooling, then a same-size convolution."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)

    def forward(self, x):
        return self.conv(F.avg_pool2d(x, 2, ceil_mode=True))


def deconv5(cin: int, cout: int) -> nn.ConvTranspose2d:
    """The WGAN-GP code's Deconv2D: 5x5, stride 2, output exactly twice the input side."""
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


def conv5(cin: int, cout: int) -> nn.Conv2d:
    """The WGAN-GP code's strided Conv2D: 5x5, stride 2, 'SAME' padding (28 -> 14 -> 7 -> 4)."""
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
