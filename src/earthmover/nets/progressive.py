"""Progressive growing (Karras, Aila, Laine & Lehtinen 2018, "Progressive Growing of GANs for
Improved Quality, Stability, and Variation"; ``tkarras/progressive_growing_of_gans``).

Both networks start at 4x4 and double their resolution in stages up to the data's size. A new
block is faded in: while the generator grows from r/2 to r its output is

    lerp(upscale(to_rgb_{r/2}(x_{r/2})), to_rgb_r(block_r(x_{r/2})), alpha),   alpha: 0 -> 1,

and the critic mirrors it, ``lerp(from_rgb_{r/2}(downscale(img)), block_r(from_rgb_r(img)), alpha)``.
At alpha = 0 the networks compute exactly what they computed at resolution r/2 (upscaled); at
alpha = 1 the lower resolution's output layers no longer count. ``torch.lerp`` is exact at both
ends, so both statements hold bit for bit.

All blocks exist from the start (the paper's networks too): the parameter set, the optimizers'
state and the checkpoints never change shape; blocks above the current resolution get no gradient.
The current ``(resolution, alpha)`` is not stored in the networks: it is a function of the number
of real images shown (:class:`ProgressiveSchedule`), which the checkpoint keeps, and the loop sets
it on every network before each step with :meth:`set_stage`.

The paper's details kept here: equalized learning rate (weights ~ N(0, 1) scaled at run time by
He's constant), pixelwise feature normalization in the generator, leaky ReLU 0.2, nearest
upscaling, box-filter downscaling, feature maps ``min(fmap_base / 2^stage, fmap_max)``, the
minibatch standard deviation layer in the critic's 4x4 block (``mbstd_group_size``; the paper uses
4, the default here is 0 = off because it couples samples, see :mod:`earthmover.nets.minibatch`),
and the drift term epsilon * D(x)^2 beside WGAN-GP (:func:`drift_penalty`).
The real images the critic sees are the data downscaled to the current resolution and, during a
fade, blended with their own 2x-coarser version by the same alpha (:func:`progressive_reals`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import CriticOutput
from earthmover.nets.minibatch import MinibatchStdDev
from earthmover.nets.registry import Architecture, NetSpec, register

# ---------------------------------------------------------------------- pure helpers


def _log2_side(side: int, what: str) -> int:
    level = int(round(math.log2(side))) if side > 0 else -1
    if side < 4 or 2**level != side:
        raise EarthmoverError(
            f"progressive growing: {what} = {side}; expected a power of two >= 4 (pad 28x28 MNIST to 32)"
        )
    return level


def upscale2d(x: Tensor, factor: int = 2) -> Tensor:
    """Nearest-neighbour upscaling by an integer factor (each pixel becomes a factor x factor block)."""
    if factor == 1:
        return x
    return x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def downscale2d(x: Tensor, factor: int = 2) -> Tensor:
    """Box-filter downscaling: the mean of each factor x factor block."""
    if factor == 1:
        return x
    return F.avg_pool2d(x, factor)


def progressive_reals(images: Tensor, resolution: int, alpha: float = 1.0) -> Tensor:
    """The real images the critic sees at ``resolution`` during a stage with fade ``alpha``:
    the data box-downscaled to ``resolution`` and, while alpha < 1, blended with its 2x-coarser
    version upscaled back, ``lerp(upscale(downscale(x_r)), x_r, alpha)`` (train.py ``process_reals``)."""
    side = images.shape[-1]
    if images.dim() != 4 or images.shape[-2] != side:
        raise EarthmoverError(f"progressive growing takes square (N, C, H, W) images, got {tuple(images.shape)}")
    _log2_side(side, "the data's side")
    _log2_side(resolution, "resolution")
    if resolution > side:
        raise EarthmoverError(f"progressive growing: resolution {resolution} is above the data's side {side}")
    x = downscale2d(images, side // resolution)
    if alpha < 1.0 and resolution > 4:
        x = torch.lerp(upscale2d(downscale2d(x)), x, float(alpha))
    return x


def drift_penalty(real_scores: Tensor, epsilon: float = 0.001) -> Tensor:
    """Karras et al.'s drift term epsilon * E[D(x)^2] on real scores (loss.py ``EpsilonPenalty``):
    keeps a Wasserstein critic's output near 0 (with WGAN-GP, epsilon = 0.001)."""
    x = real_scores if real_scores.dtype in (torch.float32, torch.float64) else real_scores.float()
    return epsilon * x.pow(2).mean()


def feature_maps(stage: int, fmap_base: int, fmap_max: int) -> int:
    """``min(fmap_base / 2^stage, fmap_max)``, at least 1."""
    return max(1, min(int(fmap_base / 2.0**stage), fmap_max))


# ---------------------------------------------------------------------- layers


class EqualizedLinear(nn.Module):
    """A linear layer with the paper's equalized learning rate: w ~ N(0, 1), used as w * gain / sqrt(fan_in)."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
    """A same-padded convolution with the equalized learning rate."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    """x / sqrt(mean over channels of x^2 + eps), per pixel and sample."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2)


class _Staged(nn.Module):
    """What both networks share: the resolutions they span and the current stage."""

    leaves_parameters_unused = True
    """Blocks above the current resolution get no gradient: DistributedDataParallel must be told."""

    def _init_stages(self, resolution: int):
        self.final_level = _log2_side(resolution, "resolution")
        self.final_resolution = resolution
        self.resolution, self.alpha = 4, 1.0

    @property
    def levels(self) -> int:
        """Number of resolutions, 4x4 included."""
        return self.final_level - 1

    def set_stage(self, resolution: int, alpha: float = 1.0) -> None:
        """Work at ``resolution`` with the newest block faded in by ``alpha`` in [0, 1]."""
        level = _log2_side(resolution, "resolution")
        if level > self.final_level:
            raise EarthmoverError(
                f"progressive growing: resolution {resolution} is above the networks' {self.final_resolution}"
            )
        if not 0.0 <= alpha <= 1.0:
            raise EarthmoverError(f"progressive growing: alpha = {alpha}; expected a value in [0, 1]")
        self.resolution, self.alpha = resolution, float(alpha)

    @property
    def level(self) -> int:
        """Index of the current resolution: 0 for 4x4."""
        return int(round(math.log2(self.resolution))) - 2


# ---------------------------------------------------------------------- networks


class ProgressiveGenerator(_Staged):
    """z (N, latent_dim) -> images (N, channels, r, r) at the current resolution r."""

    def __init__(
        self,
        latent_dim: int = 128,
        resolution: int = 32,
        channels: int = 1,
        fmap_base: int = 1024,
        fmap_max: int = 128,
        pixel_norm: bool = True,
        normalize_latent: bool = True,
        output_tanh: bool = False,
    ):
        super().__init__()
        self.output_tanh = (
            output_tanh  # the paper's output is linear; the registry's keeps samples in [-1, 1] like the data
        )
        self._init_stages(resolution)
        self.latent_dim, self.channels = latent_dim, channels
        nf = lambda stage: feature_maps(stage, fmap_base, fmap_max)  # noqa: E731
        pn = (lambda: PixelNorm()) if pixel_norm else (lambda: nn.Identity())
        self.latent_norm = PixelNorm() if normalize_latent else nn.Identity()
        self.dense = EqualizedLinear(latent_dim, nf(1) * 16, gain=math.sqrt(2) / 4)  # the paper's gain for this layer
        self.seed_channels = nf(1)
        blocks = [nn.Sequential(_act(), pn(), EqualizedConv2d(nf(1), nf(1), 3), _act(), pn())]
        for k in range(1, self.levels):
            blocks.append(
                nn.Sequential(
                    EqualizedConv2d(nf(k), nf(k + 1), 3),
                    _act(),
                    pn(),
                    EqualizedConv2d(nf(k + 1), nf(k + 1), 3),
                    _act(),
                    pn(),
                )
            )
        self.blocks = nn.ModuleList(blocks)
        self.to_rgb = nn.ModuleList(EqualizedConv2d(nf(k + 1), channels, 1, gain=1.0) for k in range(self.levels))

    def forward(self, z: Tensor) -> Tensor:
        x = self.blocks[0](self.dense(self.latent_norm(z)).view(-1, self.seed_channels, 4, 4))
        level = self.level
        for k in range(1, level):
            x = self.blocks[k](upscale2d(x))
        if level == 0:
            return self._squash(self.to_rgb[0](x))
        new = self.to_rgb[level](self.blocks[level](upscale2d(x)))
        if self.alpha >= 1.0:
            return self._squash(new)
        return self._squash(torch.lerp(upscale2d(self.to_rgb[level - 1](x)), new, self.alpha))

    def _squash(self, images: Tensor) -> Tensor:
        return torch.tanh(images) if self.output_tanh else images

    def full_resolution(self, images: Tensor) -> Tensor:
        """Images at the current resolution upscaled (nearest) to the final one, for grids and metrics."""
        return upscale2d(images, self.final_resolution // images.shape[-1])


class ProgressiveCritic(_Staged):
    """images (N, channels, r, r) at the current resolution -> CriticOutput(score (N,), features (N, nf(0)))."""

    def __init__(
        self,
        resolution: int = 32,
        channels: int = 1,
        fmap_base: int = 1024,
        fmap_max: int = 128,
        mbstd_group_size: int = 0,
    ):
        super().__init__()
        self._init_stages(resolution)
        self.channels = channels
        nf = lambda stage: feature_maps(stage, fmap_base, fmap_max)  # noqa: E731
        self.from_rgb = nn.ModuleList(
            nn.Sequential(EqualizedConv2d(channels, nf(k + 1), 1), _act()) for k in range(self.levels)
        )
        blocks: list[nn.Module] = [nn.Identity()]  # block 0 is built last (the parameters' draw order)
        for k in range(1, self.levels):
            blocks.append(
                nn.Sequential(
                    EqualizedConv2d(nf(k + 1), nf(k + 1), 3),
                    _act(),
                    EqualizedConv2d(nf(k + 1), nf(k), 3),
                    _act(),
                    nn.AvgPool2d(2),
                )
            )
        mbstd = [MinibatchStdDev(mbstd_group_size)] if mbstd_group_size else []
        blocks[0] = nn.Sequential(
            *mbstd,
            EqualizedConv2d(nf(1) + len(mbstd), nf(1), 3),
            _act(),
            nn.Flatten(),
            EqualizedLinear(nf(1) * 16, nf(0)),
            _act(),
        )
        self.blocks = nn.ModuleList(blocks)
        self.out = EqualizedLinear(nf(0), 1, gain=1.0)

    def forward(self, x: Tensor) -> CriticOutput:
        if x.dim() != 4 or x.shape[1] != self.channels or x.shape[2:] != (self.resolution, self.resolution):
            grown = (
                f" (it is at {self.resolution}x{self.resolution}: feed progressive_reals(images, resolution, alpha))"
                if x.dim() == 4 and x.shape[2:] != (self.resolution, self.resolution)
                else ""
            )
            raise EarthmoverError(
                f"the critic expects images of shape ({self.channels}, {self.resolution}, {self.resolution}), got "
                f"{tuple(x.shape[1:])}; set data.image_size/data.channels to match the data{grown}"
            )
        level = self.level
        h = self.from_rgb[level](x)
        if level > 0:
            h = self.blocks[level](h)
            if self.alpha < 1.0:
                h = torch.lerp(self.from_rgb[level - 1](downscale2d(x)), h, self.alpha)
        for k in range(level - 1, 0, -1):
            h = self.blocks[k](h)
        features = self.blocks[0](h)
        return CriticOutput(score=self.out(features).squeeze(1), features=features)


def set_stage(resolution: int, alpha: float, *networks: nn.Module) -> None:
    """Put every progressive network among ``networks`` (generator, EMA generator, critic) at the stage."""
    for net in networks:
        for m in net.modules():
            if isinstance(m, _Staged):
                m.set_stage(resolution, alpha)


# ---------------------------------------------------------------------- schedule

PHASES = ("stabilize", "fade")


@dataclass(frozen=True)
class Stage:
    """Where a run is in the schedule."""

    index: int
    """0 for the first 4x4 stage, then 2 per resolution (fade, stabilize)."""
    resolution: int
    phase: str
    """stabilize | fade."""
    alpha: float
    """Fade of the newest block: (images - start) / fade_images during a fade, 1 otherwise."""
    start: int
    """Images shown when the stage began."""
    end: int | None
    """Images shown when it ends (None for the last, open-ended stage)."""
    batch_size: int
    lr: float | None
    """The learning rate for this resolution, or None for the optimizers' own."""


def _int_keys(mapping: Mapping, what: str) -> dict[int, object]:
    try:
        return {int(k): v for k, v in dict(mapping).items()}
    except (TypeError, ValueError):
        raise EarthmoverError(f"progressive.{what} = {mapping!r}; expected a table of resolution = value") from None


@dataclass
class ProgressiveSchedule:
    """Maps the number of real images shown to the stage, like the paper's ``TrainingSchedule``:
    ``stabilize_images`` at the start resolution, then for each doubling ``fade_images`` with
    alpha rising linearly from 0 to 1 and ``stabilize_images`` more; the final resolution lasts for
    the rest of the run. Batch size and learning rate may be set per resolution.

    Its state is one integer (:attr:`images_seen`); everything else is derived from it, so a resume
    from :meth:`state_dict` continues in the same stage with the same alpha bit for bit."""

    final_resolution: int
    start_resolution: int = 4
    fade_images: int = 800_000
    stabilize_images: int = 800_000
    batch_size: int = 16
    batch_sizes: Mapping[int, int] = field(default_factory=dict)
    lr: float | None = None
    lrs: Mapping[int, float] = field(default_factory=dict)
    images_seen: int = 0

    def __post_init__(self):
        first, last = (
            _log2_side(self.start_resolution, "start_resolution"),
            _log2_side(self.final_resolution, "final_resolution"),
        )
        if first > last:
            raise EarthmoverError(
                f"progressive.start_resolution = {self.start_resolution} is above the final resolution "
                f"{self.final_resolution}"
            )
        if self.fade_images < 0 or self.stabilize_images < 0:
            raise EarthmoverError(
                f"progressive: fade_images = {self.fade_images} and stabilize_images = {self.stabilize_images} must "
                "be >= 0"
            )
        if self.batch_size < 1:
            raise EarthmoverError(f"progressive.batch_size = {self.batch_size}; expected at least 1")
        self.resolutions = tuple(2**level for level in range(first, last + 1))
        self.batch_sizes = _int_keys(self.batch_sizes, "batch_sizes")
        self.lrs = _int_keys(self.lrs, "lrs")
        for what, table in (("batch_sizes", self.batch_sizes), ("lrs", self.lrs)):
            stray = sorted(set(table) - set(self.resolutions))
            if stray:
                raise EarthmoverError(
                    f"progressive.{what} names resolution {stray[0]}, which the schedule never reaches; "
                    f"its resolutions are {', '.join(map(str, self.resolutions))}"
                )
            bad = [v for v in table.values() if not (isinstance(v, (int, float)) and v > 0)]
            if bad:
                raise EarthmoverError(f"progressive.{what} has value {bad[0]!r}; expected positive numbers")
        self._stages = self._build()

    def _build(self) -> list[tuple[int, str, int, int | None]]:
        """(resolution, phase, start, end) for every stage of non-zero length, in order."""
        stages: list[tuple[int, str, int, int | None]] = []
        t = 0
        for i, r in enumerate(self.resolutions):
            if i and self.fade_images:
                stages.append((r, "fade", t, t + self.fade_images))
                t += self.fade_images
            last = i == len(self.resolutions) - 1
            if last:
                stages.append((r, "stabilize", t, None))
            elif self.stabilize_images:
                stages.append((r, "stabilize", t, t + self.stabilize_images))
                t += self.stabilize_images
        return stages

    def stage_at(self, images: int) -> Stage:
        """The stage after ``images`` real images have been shown."""
        if images < 0:
            raise ValueError(f"images = {images} must be >= 0")
        for index, (r, phase, start, end) in enumerate(self._stages):
            if end is None or images < end:
                alpha = (images - start) / self.fade_images if phase == "fade" else 1.0
                return Stage(
                    index,
                    r,
                    phase,
                    alpha,
                    start,
                    end,
                    int(self.batch_sizes.get(r, self.batch_size)),
                    self.lrs.get(r, self.lr),
                )
        raise AssertionError("the last stage is open-ended")

    @property
    def stage(self) -> Stage:
        return self.stage_at(self.images_seen)

    def advance(self, images: int) -> Stage:
        """Count ``images`` more real images shown (one step's global batch) and return the new stage."""
        if images < 0:
            raise ValueError(f"images = {images} must be >= 0")
        self.images_seen += int(images)
        return self.stage

    def boundaries(self) -> list[tuple[int, int, str]]:
        """(images at which it begins, resolution, phase) for each stage: what the log and progress bar show."""
        return [(start, r, phase) for r, phase, start, _ in self._stages]

    @property
    def growth_images(self) -> int:
        """Images shown before the final resolution is fully faded in."""
        return self._stages[-1][2]

    def state_dict(self) -> dict:
        return {"images_seen": self.images_seen, "boundaries": self.boundaries()}

    def load_state_dict(self, state: dict) -> None:
        saved = [tuple(b) for b in state.get("boundaries", self.boundaries())]
        if saved != self.boundaries():
            raise EarthmoverError(
                "the checkpoint was written with another progressive schedule; resume with the run's own "
                "progressive settings (config.toml in the run directory)"
            )
        self.images_seen = int(state["images_seen"])


# ---------------------------------------------------------------------- registration (model.arch)


def _progressive_generator(spec: NetSpec) -> nn.Module:
    net = ProgressiveGenerator(
        spec.latent_dim, spec.side, spec.channels, fmap_base=8 * spec.width, fmap_max=spec.width, output_tanh=True
    )
    net.set_stage(spec.side)  # full resolution, unless model.grow's schedule says otherwise
    return net


def _progressive_critic(spec: NetSpec) -> nn.Module:
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
