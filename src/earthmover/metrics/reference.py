"""Image sets to evaluate and compare against, and a cache of their features.

An image set is anything ``earthmover.data.images.load_images`` accepts (``"mnist:test"``,
``"digits:test"``, a ``.npz``/``.npy``/IDX file, a folder of images; see that module), plus
``PATH.npz:SPLIT`` to pick the array ``x_SPLIT`` of a file, plus an array or tensor already in
memory (uint8 pixels or floats in [-1, 1]).

Features are cached under ``$EARTHMOVER_CACHE/reference/`` (default ``~/.cache/earthmover/reference/``)
by set name, a hash of the image bytes, the extractor and its weights (a hash), and the count; a
changed file or other weights therefore never reuse stale statistics.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import torch

from earthmover.data.images import load_images
from earthmover.errors import EarthmoverError
from earthmover.metrics.features import Extracted, extract, extractor_id
from earthmover.metrics.inception import cache_dir


def resolve(spec, image_size: int | None = None, channels: int | None = None) -> tuple[torch.Tensor, str]:
    """Load an image set as uint8 NCHW (or the given float tensor/array as is); returns (images, label)."""
    if not isinstance(spec, (str, os.PathLike)):
        return spec, "array"
    text = os.fspath(spec)
    m = re.match(r"^(.+\.npz):([A-Za-z0-9_]+)$", text)
    if m and Path(m.group(1)).expanduser().is_file():
        images = load_images(m.group(1), split=m.group(2), image_size=image_size, channels=channels).images
        return images, text
    image_set = load_images(text, image_size=image_size, channels=channels)
    label = image_set.name if ":" in image_set.name or not Path(text).exists() else text
    return image_set.images, label


def _content_key(images) -> str:
    a = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    h = hashlib.sha1(str((a.shape, a.dtype.str)).encode())
    h.update(np.ascontiguousarray(a).view(np.uint8).data)
    return h.hexdigest()[:12]


def reference_features(
    spec,
    extractor,
    n: int | None = None,
    batch_size: int = 100,
    want_probs: bool = False,
    use_cache: bool = True,
    image_size: int | None = None,
    channels: int | None = None,
    progress: bool = False,
) -> tuple[Extracted, str]:
    """Features of the first ``n`` images of a set (all when None), cached on disk; returns (features, label).
    ``progress``: a bar over an extraction that is not in the cache (see :func:`extract`)."""
    images, label = resolve(spec, image_size=image_size, channels=channels)
    if n is not None:
        if n > len(images):
            raise EarthmoverError(f"reference {label!r}: asked for n={n} images but it holds {len(images)}; lower n")
        images = images[:n]
    want = want_probs or getattr(extractor, "has_probs", False)
    bar = f"{extractor.name} features of {label}" if progress else None
    if not use_cache:
        return extract(extractor, images, batch_size=batch_size, want_probs=want, progress=bar), label
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(label).name if label != "array" else label)[:60]
    path = cache_dir() / "reference" / f"{safe}-{_content_key(images)}-{extractor_id(extractor)}-n{len(images)}.npz"
    if path.is_file():
        with np.load(path) as d:
            if not want_probs or "probs" in d:
                return Extracted(d["features"], d["probs"] if "probs" in d else None), label
    out = extract(extractor, images, batch_size=batch_size, want_probs=want, progress=bar)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
    if out.probs is None:
        np.savez(tmp, features=out.features)
    else:
        np.savez(tmp, features=out.features, probs=out.probs)
    os.replace(tmp, path)
    return out, label
