"""The in-memory image set every source returns, and the normalization of raw arrays into it.

An :class:`ImageSet` keeps images as ``uint8`` tensors shaped ``(N, C, H, W)`` (small in memory,
exact to store); :meth:`ImageSet.to_float` gives the float32 tensor in ``[-1, 1]`` that the
networks use (0 maps to -1 and 255 to +1 exactly).

Arrays are accepted as ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)`` with C in 1, 3, 4
(a fourth, alpha, channel is dropped). Integer arrays must lie in 0..255; float arrays are
read as ``[-1, 1]`` when they hold negative values, ``[0, 1]`` when their maximum is at most 1,
and ``[0, 255]`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from earthmover.errors import EarthmoverError

__all__ = ["ImageSet", "as_uint8_nchw", "as_labels", "to_unit_range"]


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in ``[-1, 1]`` (0 -> -1.0 and 255 -> 1.0 exactly), on their device."""
    return images.to(torch.float32) / 127.5 - 1.0


@dataclass
class ImageSet:
    """Images as uint8 ``(N, C, H, W)``, optional int64 labels ``(N,)``, and a name for logs.

    ``skipped`` counts the unreadable files a folder source left out (``skip_bad``)."""

    images: torch.Tensor
    labels: torch.Tensor | None
    name: str
    classes: list[str] | None = field(default=None)
    skipped: int = 0

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise EarthmoverError(
                f"ImageSet images: got dtype {self.images.dtype} with shape {tuple(self.images.shape)}, "
                "expected uint8 (N, C, H, W); convert with load_images or images.to(torch.uint8)"
            )
        if self.labels is not None:
            if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
                raise EarthmoverError(
                    f"ImageSet labels: got dtype {self.labels.dtype} with shape {tuple(self.labels.shape)}, "
                    f"expected int64 ({self.images.shape[0]},); pass labels.long() with one label per image"
                )

    def to_float(self) -> torch.Tensor:
        """float32 ``(N, C, H, W)`` in ``[-1, 1]``: 0 -> -1.0 and 255 -> 1.0 exactly."""
        return to_unit_range(self.images)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int | None:
        """Number of classes (named classes if known, else ``max(label) + 1``); None without labels."""
        if self.labels is None:
            return None
        if self.classes is not None:
            return len(self.classes)
        return int(self.labels.max()) + 1 if len(self) else 0

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def height(self) -> int:
        return int(self.images.shape[2])

    @property
    def width(self) -> int:
        return int(self.images.shape[3])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image, as a generator's output shape."""
        return (self.channels, self.height, self.width)


def as_uint8_nchw(images, name: str) -> torch.Tensor:
    """Any accepted image array (see the module docstring) -> contiguous uint8 ``(N, C, H, W)``."""
    if isinstance(images, torch.Tensor):
        images = images.numpy()
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4:
        if array.shape[1] not in (1, 3, 4) and array.shape[-1] in (1, 3, 4):
            array = array.transpose(0, 3, 1, 2)
        if array.shape[1] not in (1, 3, 4):
            raise EarthmoverError(
                f"source {name!r}: images of shape {array.shape} have {array.shape[1]} channels; "
                "expected 1, 3 or 4 (NCHW or NHWC)"
            )
        array = array[:, :3]
    else:
        raise EarthmoverError(
            f"source {name!r}: array of shape {array.shape} is not images; "
            "expected (N, H, W), (N, C, H, W) or (N, H, W, C)"
        )
    if array.dtype == np.uint8:
        pass
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.integer):
        lo, hi = int(array.min()), int(array.max())
        if lo < 0 or hi > 255:
            raise EarthmoverError(
                f"source {name!r}: integer images span {lo}..{hi}, expected 0..255; rescale them to uint8 first"
            )
        array = array.astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        low, high = float(array.min()), float(array.max())
        if not (np.isfinite(low) and np.isfinite(high)) or low < -1.0 or high > 255.0:
            raise EarthmoverError(
                f"source {name!r}: float images span {low}..{high}, expected [-1, 1], [0, 1] or [0, 255]; "
                "rescale them first"
            )
        if low < 0.0:
            scaled = (array + 1.0) * 127.5
        elif high <= 1.0:
            scaled = array * 255.0
        else:
            scaled = array
        array = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    else:
        raise EarthmoverError(f"source {name!r}: images of dtype {array.dtype}; expected uint8, integers or floats")
    return torch.from_numpy(np.ascontiguousarray(array))


def as_labels(labels, count: int, name: str) -> torch.Tensor:
    """Labels of any integer-valued dtype, ``(N,)`` or ``(N, 1)`` -> int64 ``(N,)``."""
    array = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape != (count,):
        raise EarthmoverError(
            f"source {name!r}: labels of shape {array.shape} for {count} images; expected one integer label per image"
        )
    if np.issubdtype(array.dtype, np.floating) and np.all(np.rint(array) == array):
        array = array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer) or (count and array.min() < 0):
        raise EarthmoverError(
            f"source {name!r}: labels must be non-negative integers (got dtype {array.dtype}); save class indices"
        )
    return torch.from_numpy(array.astype(np.int64))
