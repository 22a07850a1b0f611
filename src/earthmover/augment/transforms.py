"""DiffAugment's transforms (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training", arXiv:2006.10738), ported from the authors' ``DiffAugment_pytorch.py``.

Each transform is a short pure function ``(x, draws) -> x`` of an NCHW batch in [-1, 1] and a random source
(:mod:`earthmover.augment.draws`), differentiable in ``x`` so the generator's gradient passes through it.
Each has a deterministic core taking the drawn values (``translate``, ``cut_out``, ``adjust_color``),
which the tests compare with the authors' formula.

Why hand-written rather than kornia: kornia 0.9 installs beside torch 2.13.0 without torchvision, but its
augmentations draw their parameters from the global RNG through ``torch.distributions`` (no
``torch.Generator`` can be passed), so a resumed run could not be bit-identical and torchrun processes
could not take their slices of one global draw; its translation is a bilinear affine warp, not
DiffAugment's whole-pixel shift with zero fill. The three transforms are 60 lines here.

Integers are drawn as ``floor(u k)`` from uniforms (not ``torch.randint``), so that every draw is a slice
of the global batch's uniforms; the distributions are the authors'.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from earthmover.augment.draws import integers, uniform
from earthmover.registry import Registry

AUGMENTATIONS: Registry[Callable[..., Tensor]] = Registry(
    "augmentation",
    "Differentiable transforms of every image the critic sees: a function (x, draws) -> x, x an NCHW batch.",
)

TRANSLATION_RATIO = 0.125
"""DiffAugment's largest shift, as a fraction of the side: 1/8 (4 pixels of 32)."""
CUTOUT_RATIO = 0.5
"""DiffAugment's cut-out square, as a fraction of the side: half of it."""


def translate(x: Tensor, shift_h: Tensor, shift_w: Tensor) -> Tensor:
    """Each image moved by whole pixels: ``out[i, :, r, c] = x[i, :, r + shift_h[i], c + shift_w[i]]`` where
    that pixel exists, else 0 (the authors' gather from a zero-padded image)."""
    n, _, h, w = x.shape
    rows = torch.arange(h, device=x.device).view(1, h, 1) + shift_h.view(n, 1, 1).to(x.device)
    cols = torch.arange(w, device=x.device).view(1, 1, w) + shift_w.view(n, 1, 1).to(x.device)
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).unsqueeze(1)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    moved = x.permute(0, 2, 3, 1)[batch, rows.clamp(0, h - 1), cols.clamp(0, w - 1)].permute(0, 3, 1, 2)
    return moved * inside.to(x.dtype)


def cutout_size(h: int, w: int) -> tuple[int, int]:
    """The side of DiffAugment's square: ``int(side * 0.5 + 0.5)``."""
    return int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)


def cut_out(x: Tensor, center_h: Tensor, center_w: Tensor) -> Tensor:
    """Zero a ``cutout_size`` box per image, its rows ``center_h - size // 2`` to ``center_h - size // 2 +
    size - 1`` (clipped to the image), likewise its columns: the authors' mask."""
    n, _, h, w = x.shape
    size_h, size_w = cutout_size(h, w)
    top = (center_h - size_h // 2).view(n, 1, 1).to(x.device)
    left = (center_w - size_w // 2).view(n, 1, 1).to(x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    box = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    return x * (~box).unsqueeze(1).to(x.dtype)


def adjust_color(x: Tensor, brightness: Tensor, saturation: Tensor, contrast: Tensor) -> Tensor:
    """The authors' three color steps with U[0, 1) draws, in their order: brightness adds ``u - 0.5``;
    saturation scales the distance to the mean over channels by ``2 u``; contrast scales the distance to the
    image's mean by ``u + 0.5``."""

    def per_image(u: Tensor) -> Tensor:
        return u.to(x.device, x.dtype).view(-1, 1, 1, 1)

    x = x + (per_image(brightness) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (per_image(saturation) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (per_image(contrast) + 0.5) + mean


@AUGMENTATIONS.register("translation")
def translation(x: Tensor, draws) -> Tensor:
    """Shift by up to 1/8 of each side, whole pixels, zero fill (draws: shift rows, then shift columns)."""
    n, _, h, w = x.shape
    reach_h, reach_w = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    shift_h = integers(draws, n, -reach_h, reach_h + 1, x)
    shift_w = integers(draws, n, -reach_w, reach_w + 1, x)
    return translate(x, shift_h, shift_w)


@AUGMENTATIONS.register("cutout")
def cutout(x: Tensor, draws) -> Tensor:
    """Zero a square of half the side at a uniform centre (draws: centre row, then centre column; the
    authors' range ``[0, side + 1 - size % 2)``)."""
    n, _, h, w = x.shape
    size_h, size_w = cutout_size(h, w)
    center_h = integers(draws, n, 0, h + (1 - size_h % 2), x)
    center_w = integers(draws, n, 0, w + (1 - size_w % 2), x)
    return cut_out(x, center_h, center_w)


@AUGMENTATIONS.register("color")
def color(x: Tensor, draws) -> Tensor:
    """Random brightness, saturation and contrast (draws: one uniform per image for each, in that order)."""
    n = x.shape[0]
    return adjust_color(x, uniform(draws, n, x), uniform(draws, n, x), uniform(draws, n, x))
