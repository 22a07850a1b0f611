"""Pixel transforms on uint8 ``(N, C, H, W)`` tensors: center crop, resize, channel conversion.

``resize(images, size)`` makes square ``size x size`` images: a non-square image is first cut
to its centered square (side ``min(H, W)``; the extra row or column of an odd difference goes to
the bottom/right), then resampled bilinearly with antialiasing and rounded back to uint8. So
mixed shapes are never squashed, and a square image is only resampled.

``convert_channels`` gives 1 channel (ITU-R 601 luminance, ``0.299 R + 0.587 G + 0.114 B``, as
PIL's ``convert("L")``) or 3 (the gray channel replicated).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from earthmover.errors import EarthmoverError

__all__ = ["center_crop_box", "center_crop", "resize", "convert_channels", "LUMA"]

LUMA = (0.299, 0.587, 0.114)


def center_crop_box(height: int, width: int) -> tuple[int, int, int]:
    """(top, left, side) of the largest centered square of an ``height x width`` image."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side


def center_crop(images):
    """The centered square of uint8 ``(..., H, W)`` images (a tensor or a numpy array; a view)."""
    top, left, side = center_crop_box(int(images.shape[-2]), int(images.shape[-1]))
    return images[..., top : top + side, left : left + side]


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` -> uint8 ``(N, C, size, size)``: center square, then bilinear with antialiasing."""
    if images.shape[-2:] == (size, size):
        return images
    square = center_crop(images)
    if square.shape[-2:] == (size, size):
        return square.contiguous()
    out = F.interpolate(
        square.to(torch.float32), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return out.round_().clamp_(0, 255).to(torch.uint8)


def resize_one(image: np.ndarray, size: int) -> np.ndarray:
    """One uint8 ``(C, H, W)`` array through :func:`resize` (used by the parallel folder reader)."""
    if image.shape[-2:] == (size, size):
        return image
    return resize(torch.from_numpy(np.ascontiguousarray(image)).unsqueeze(0), size)[0].numpy()


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` with C in 1, 3 -> ``channels`` (replicate gray, or 601 luminance)."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor(LUMA, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
        gray = (images.to(torch.float32) * weights).sum(dim=1, keepdim=True)
        return gray.round_().clamp_(0, 255).to(torch.uint8)
    raise EarthmoverError(f"channels={channels}: cannot convert images with {have} channels; expected 1 or 3 channels")
