"""Residual networks of the WGAN-GP paper.

:class:`ResNetGenerator` / :class:`ResNetCritic`: the CIFAR-10 ResNet of WGAN-GP
(gan_cifar_resnet.py) and SN-GAN (pfnet-research/sngan_projection, resnet_32 and
snresnet_32): 128 channels; the generator projects to 4x4 and takes three
up-blocks (batch norm, ReLU, nearest upsampling + 3x3 convolutions) to side 32;
the critic is an "optimized" first down-block, a down-block and two plain blocks,
ReLU, global mean pooling and a linear score, with no normalization (its
``norm`` is "none" unless asked). Side 28 crops the first up-block's 8x8 to 7x7;
side 64 adds one up-block and one down-block. Initialization as SN-GAN:
Glorot-uniform, gain sqrt(2) in the residual branches.

:class:`DeepResNetGenerator` / :class:`DeepResNetCritic`: Figure 2's very deep
ResNet (gan_64x64.py, 101 layers at depth 101): bottleneck blocks
(1x1, 3x3, 1x1 convolutions, the residual scaled by 0.3) at every resolution,
``depth`` counting the weight layers (3 per block, plus 2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import CriticOutput
from earthmover.nets.layers import ConvMeanPool, Crop, MeanPoolConv, UpsampleConv, check_critic_input, norm2d
from earthmover.nets.registry import Architecture, NetSpec, auto_encoder, register

SIZES = {28: 3, 32: 3, 64: 4}  # side -> up-blocks from 4x4 (side 28 crops 8x8 to 7x7)


def _ups(side: int) -> int:
    if side not in SIZES:
        raise EarthmoverError(
            f"the resnet architectures take square images of side {', '.join(map(str, SIZES))}, "
            f"got {side}; set data.image_size to one of them to resize"
        )
    return SIZES[side]


def _init(module: nn.Module) -> None:
    """SN-GAN's initialization: Glorot-uniform, gain sqrt(2) inside residual branches, 1 elsewhere."""
    for name, m in module.named_modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            gain = 1.0 if ("shortcut" in name or isinstance(m, nn.Linear) or name.startswith("out")) else math.sqrt(2)
            nn.init.xavier_uniform_(m.weight, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ResBlock(nn.Module):
    """norm, ReLU, conv, norm, ReLU, conv, plus a shortcut (a 1x1 convolution when the shape changes).
    ``resample``: None, "up" (nearest upsampling before the first convolution) or "down" (mean pooling
    after the second)."""

    c1: nn.Module  # set by the branch of resample below
    c2: nn.Module
    shortcut: nn.Module

    def __init__(self, cin: int, cout: int, resample: str | None = None, norm: str = "batch"):
        super().__init__()
        self.n1, self.n2 = norm2d(norm, cin), norm2d(norm, cout if resample != "down" else cin)
        if resample == "up":
            self.c1, self.c2 = UpsampleConv(cin, cout, 3), nn.Conv2d(cout, cout, 3, padding=1)
            self.shortcut = UpsampleConv(cin, cout, 1)
        elif resample == "down":
            self.c1, self.c2 = nn.Conv2d(cin, cin, 3, padding=1), ConvMeanPool(cin, cout, 3)
            self.shortcut = ConvMeanPool(cin, cout, 1)
        else:
            self.c1, self.c2 = nn.Conv2d(cin, cout, 3, padding=1), nn.Conv2d(cout, cout, 3, padding=1)
            self.shortcut = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.c1(F.relu(self.n1(x)))
        h = self.c2(F.relu(self.n2(h)))
        return self.shortcut(x) + h


class OptimizedDownBlock(nn.Module):
    """The critic's first block: conv, ReLU, conv + mean pool; shortcut mean pool + 1x1 conv (no norm, no
    activation on the image itself)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(cin, cout, 3, padding=1), ConvMeanPool(cout, cout, 3)
        self.shortcut = MeanPoolConv(cin, cout, 1)

    def forward(self, x):
        return self.shortcut(x) + self.c2(F.relu(self.c1(x)))


class ResNetGenerator(nn.Module):
    def __init__(
        self, latent_dim: int = 128, image_size: int = 32, channels: int = 3, dim: int = 128, norm: str = "batch"
    ):
        super().__init__()
        ups = _ups(image_size)
        self.latent_dim, self.dim = latent_dim, dim
        self.project = nn.Linear(latent_dim, 16 * dim)
        blocks: list[nn.Module] = []
        for i in range(ups):
            blocks.append(ResBlock(dim, dim, "up", norm))
            if i == 0 and image_size == 28:
                blocks.append(Crop(7))
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Sequential(norm2d(norm, dim), nn.ReLU(), nn.Conv2d(dim, channels, 3, padding=1), nn.Tanh())
        _init(self)

    def forward(self, z):
        return self.out(self.blocks(self.project(z).view(-1, self.dim, 4, 4)))


class ResNetCritic(nn.Module):
    def __init__(
        self, image_size: int = 32, channels: int = 3, dim: int = 128, norm: str = "none", dropout: float = 0.0
    ):
        super().__init__()
        ups = _ups(image_size)
        self.image_size, self.channels = image_size, channels
        blocks: list[nn.Module] = [OptimizedDownBlock(channels, dim)]
        blocks += [ResBlock(dim, dim, "down", norm) for _ in range(ups - 2)]
        blocks += [ResBlock(dim, dim, None, norm) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.feature_dim = dim
        self.out = nn.Linear(dim, 1)
        _init(self)

    def forward(self, x) -> CriticOutput:
        check_critic_input(x, self.channels, self.image_size)
        h = self.features(x)
        return CriticOutput(score=self.out(h).squeeze(1), features=h)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(F.relu(self.blocks(x)).mean(dim=(2, 3)))


# ---------------------------------------------------------------------- Figure 2's deep ResNet


class Bottleneck(nn.Module):
    """ReLU, 1x1 conv to cin/2, ReLU, 3x3 conv (strided or transposed when resampling) to cout/2, ReLU,
    1x1 conv to cout, norm; output shortcut + 0.3 * residual."""

    c2: nn.Module  # set by the branch of resample below
    shortcut: nn.Module

    def __init__(self, cin: int, cout: int, resample: str | None = None, norm: str = "batch"):
        super().__init__()
        hin, hout = max(cin // 2, 1), max(cout // 2, 1)
        self.c1 = nn.Conv2d(cin, hin, 1)
        if resample == "down":
            self.c2 = nn.Conv2d(hin, hout, 3, stride=2, padding=1)
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=2)
        elif resample == "up":
            self.c2 = nn.ConvTranspose2d(hin, hout, 3, stride=2, padding=1, output_padding=1)
            self.shortcut = nn.Sequential(nn.Conv2d(cin, 4 * cout, 1), nn.PixelShuffle(2))  # subpixel convolution
        else:
            self.c2 = nn.Conv2d(hin, hout, 3, padding=1)
            self.shortcut = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)
        self.c3 = nn.Conv2d(hout, cout, 1, bias=False)
        self.norm = norm2d(norm, cout)

    def forward(self, x):
        h = self.c1(F.relu(x))
        h = self.c2(F.relu(h))
        h = self.norm(self.c3(F.relu(h)))
        return self.shortcut(x) + 0.3 * h


def plain_blocks_per_stage(depth: int, stages: int, name: str = "fig2-resnet") -> list[int]:
    """How many non-resampling blocks each of `stages` resolutions gets for `depth` weight layers
    (3 per block, plus 2; the stages - 1 resampling blocks come first). At 64x64 and depth 101: 6, 6, 6, 6, 5."""
    least = 2 + 3 * (stages - 1)
    if depth < least:
        raise EarthmoverError(
            f"model.depth = {depth} is too shallow for {name} at this image size; expected at least "
            f"{least} layers (the paper's is 101); set model.depth"
        )
    plain = (depth - 2) // 3 - (stages - 1)
    return [plain // stages + (1 if i < plain % stages else 0) for i in range(stages)]


class DeepResNetGenerator(nn.Module):
    def __init__(
        self,
        latent_dim: int = 128,
        image_size: int = 64,
        channels: int = 3,
        dim: int = 64,
        depth: int = 101,
        norm: str = "batch",
    ):
        super().__init__()
        ups = _ups(image_size)
        counts = plain_blocks_per_stage(depth, ups + 1)
        widths = [max(dim // 2, 1) * 2 ** (ups - i) for i in range(ups + 1)]  # 8d, 4d, 2d, d, d/2 at side 64
        self.latent_dim, self.top = latent_dim, widths[0]
        self.project = nn.Linear(latent_dim, 16 * widths[0])
        blocks: list[nn.Module] = []
        for i, count in enumerate(counts):
            blocks += [Bottleneck(widths[i], widths[i], None, norm) for _ in range(count)]
            if i < ups:
                blocks.append(Bottleneck(widths[i], widths[i + 1], "up", norm))
                if i == 0 and image_size == 28:
                    blocks.append(Crop(7))
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Conv2d(widths[-1], channels, 1)

    def forward(self, z):
        return torch.tanh(self.out(self.blocks(self.project(z).view(-1, self.top, 4, 4))) / 5)


class DeepResNetCritic(nn.Module):
    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        dim: int = 64,
        depth: int = 101,
        norm: str = "none",
        dropout: float = 0.0,
    ):
        super().__init__()
        ups = _ups(image_size)
        counts = plain_blocks_per_stage(depth, ups + 1)[::-1]
        widths = [max(dim // 2, 1) * 2**i for i in range(ups + 1)]  # d/2, d, 2d, 4d, 8d at side 64
        self.image_size, self.channels = image_size, channels
        blocks: list[nn.Module] = [nn.Conv2d(channels, widths[0], 1)]
        for i, count in enumerate(counts):
            blocks += [Bottleneck(widths[i], widths[i], None, norm) for _ in range(count)]
            if i < ups:
                blocks.append(Bottleneck(widths[i], widths[i + 1], "down", norm))
        self.blocks = nn.Sequential(*blocks, nn.Flatten())
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.feature_dim = widths[-1] * 16
        self.out = nn.Linear(self.feature_dim, 1)

    def forward(self, x) -> CriticOutput:
        check_critic_input(x, self.channels, self.image_size)
        h = self.features(x)
        return CriticOutput(score=self.out(h).squeeze(1) / 5, features=h)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.blocks(x))


# ---------------------------------------------------------------------- registration (model.arch)


def _resnet_generator(spec: NetSpec, norm: str = "batch") -> nn.Module:
    return ResNetGenerator(spec.latent_dim, spec.side, spec.channels, spec.width, norm=norm)


def _resnet_critic(spec: NetSpec) -> nn.Module:
    net = ResNetCritic(spec.side, spec.channels, spec.width, norm=spec.critic_norm, dropout=spec.dropout)
    return auto_encoder(spec, net, _resnet_generator)


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


def _deep_generator(spec: NetSpec, norm: str = "batch") -> nn.Module:
    return DeepResNetGenerator(spec.latent_dim, spec.side, spec.channels, spec.width, spec.depth, norm=norm)


def _deep_critic(spec: NetSpec) -> nn.Module:
    net = DeepResNetCritic(
        spec.side, spec.channels, spec.width, spec.depth, norm=spec.critic_norm, dropout=spec.dropout
    )
    return auto_encoder(spec, net, _deep_generator)


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
