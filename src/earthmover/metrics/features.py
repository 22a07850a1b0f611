"""Feature extractors by name, and batched extraction from images or from a sampler."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm  # not tqdm.auto: imported with earthmover, it warns in every notebook without ipywidgets

from earthmover.errors import EarthmoverError
from earthmover.metrics.digits import WEIGHTS_RESOURCE, DigitClassifier
from earthmover.metrics.inception import InceptionV3

EXTRACTORS = ("inception", "digits")


@dataclass
class Extracted:
    """Features (N, D) float32 and, where the extractor has a classifier, probabilities (N, K) float64."""

    features: np.ndarray
    probs: np.ndarray | None


def get_extractor(
    name: str, device: str | torch.device = "cpu", inception_path: str | None = None, resize: str = "legacy-tf"
):
    """``"inception"`` (the standard FID network, see metrics.inception; ``resize`` one of its RESIZE_MODES)
    or ``"digits"`` (our digit classifier, which reads images at their size: resize is ``"none"``)."""
    if name == "inception":
        return InceptionV3(inception_path, device=device, resize=resize)
    if name == "digits":
        return _digits(str(device))
    raise EarthmoverError(f"features: unknown extractor {name!r}; expected one of {', '.join(EXTRACTORS)}")


@lru_cache(maxsize=4)
def _digits(device: str):
    ext = DigitClassifier(device=device)
    data = resources.files("earthmover.metrics").joinpath(WEIGHTS_RESOURCE).read_bytes()
    ext.id = "digits-" + hashlib.sha1(data).hexdigest()[:12]
    return ext


def extractor_id(extractor) -> str:
    return getattr(extractor, "id", extractor.name)


def resize_mode(extractor) -> str:
    """How the extractor resizes its input (``"legacy-tf"``, ``"clean"``), ``"none"`` when it does not."""
    return getattr(extractor, "resize", "none")


def as_images(x: np.ndarray | Tensor) -> Tensor:
    """uint8 (0..255) or float ([-1, 1]) arrays, NHW / NCHW / NHWC, -> float32 NCHW in [-1, 1]."""
    t = torch.as_tensor(np.asarray(x)) if not isinstance(x, Tensor) else x
    if t.ndim == 3:
        t = t.unsqueeze(1)
    if t.ndim != 4:
        raise EarthmoverError(f"images: expected (N, H, W) or (N, C, H, W) arrays, got shape {tuple(t.shape)}")
    if t.shape[1] not in (1, 3) and t.shape[-1] in (1, 3):
        t = t.permute(0, 3, 1, 2)
    if t.dtype == torch.uint8:
        return t.float().div(127.5).sub(1.0)
    t = t.float()
    if t.numel() and (t.min() < -1.0001 or t.max() > 1.0001):
        raise EarthmoverError(
            f"images: float values span [{float(t.min()):.3g}, {float(t.max()):.3g}], expected [-1, 1]; "
            "pass uint8 pixels or rescale to [-1, 1]"
        )
    return t


def extract(
    extractor,
    images: np.ndarray | Tensor | None = None,
    *,
    sample_fn: Callable[[int], Tensor] | None = None,
    n: int | None = None,
    batch_size: int = 100,
    want_probs: bool = False,
    progress: str | None = None,
) -> Extracted:
    """Features (and optionally probabilities) of ``images``, or of ``n`` images drawn batch by
    batch from ``sample_fn``.

    ``progress``: a label to show a progress bar over the images on stderr (when stderr is a terminal, as
    earthmover's other secondary bars), e.g. ``"inception features of mnist:test"``; None for none."""
    get: Callable[[int, int], Tensor]  # (start, count) -> a batch of images
    if images is not None and sample_fn is None:
        total = len(images)
        get = lambda i, m: as_images(images[i : i + m])  # noqa: E731
    elif sample_fn is not None and images is None:
        if not n or n < 1:
            raise EarthmoverError(f"extract: n must be a positive sample count with sample_fn, got {n}")
        total, draw = n, sample_fn
        get = lambda i, m: as_images(draw(m))  # noqa: E731
    else:
        raise EarthmoverError("extract: pass exactly one of images or sample_fn")
    feats, probs = [], []
    bar = tqdm(total=total, unit="img", desc=progress, disable=None if progress else True, leave=False, file=sys.stderr)
    for i in range(0, total, batch_size):
        x = get(i, min(batch_size, total - i))
        f, p = extractor.features_and_probs(x, want_probs=want_probs)
        feats.append(f.numpy().astype(np.float32))
        if want_probs:
            if p is None:
                extractor.probs(x)  # raises the extractor's own explanation
            probs.append(p.numpy().astype(np.float64))
        bar.update(len(x))
    bar.close()
    return Extracted(np.concatenate(feats), np.concatenate(probs) if want_probs else None)
