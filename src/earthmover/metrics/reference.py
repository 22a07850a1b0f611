"""Image sets to evaluate and compare against, and a cache of their features.

An image set is named by one of:
- ``"NAME:SPLIT"`` (``"mnist:test"``): the array ``x_SPLIT`` of ``NAME.npz`` found in the data
  directories (``$EARTHMOVER_DATA``, ``$EARTHMOVER_CACHE/data``, ``./data``, ``../shared/data``);
- a ``.npz`` file (key ``x_SPLIT`` with ``path.npz:SPLIT``, else ``images``, ``x``, or its only ``x_*`` key);
- a folder of PNG/JPEG images (sorted by name);
- an array or tensor already in memory (uint8 pixels or floats in [-1, 1]).

Features of named sets and files are cached by dataset, split, extractor (with a hash of its weights)
and count, under ``$EARTHMOVER_CACHE/reference/`` (default ``~/.cache/earthmover/reference/``).
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from earthmover.errors import EarthmoverError
from earthmover.metrics.features import Extracted, extract, extractor_id
from earthmover.metrics.inception import cache_dir

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def data_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("EARTHMOVER_DATA", "").split(os.pathsep) if p]
    return dirs + [cache_dir() / "data", Path("data"), Path("..") / "shared" / "data"]


def _split_spec(spec: str) -> tuple[str, str | None]:
    """'a/b.npz:test' -> ('a/b.npz', 'test'); 'mnist:test' -> ('mnist', 'test'); keeps Windows drive letters."""
    m = re.match(r"^(.*?):([A-Za-z0-9_]+)$", spec)
    if m and len(m.group(1)) > 1:
        return m.group(1), m.group(2)
    return spec, None


def _npz_images(path: Path, split: str | None) -> np.ndarray:
    with np.load(path) as d:
        keys = list(d.keys())
        if split is not None:
            for key in (f"x_{split}", split):
                if key in d:
                    return d[key]
            raise EarthmoverError(f"{path}: no array x_{split} (keys: {', '.join(keys)}); pick a split among those keys")
        for key in ("images", "x"):
            if key in d:
                return d[key]
        xs = [k for k in keys if k.startswith("x_")]
        if len(xs) == 1:
            return d[xs[0]]
        raise EarthmoverError(
            f"{path}: cannot tell which array holds the images (keys: {', '.join(keys)}); "
            "name the split as PATH.npz:SPLIT or store them under 'images'"
        )


def _folder_images(path: Path) -> np.ndarray:
    from PIL import Image

    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EarthmoverError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder; pass a folder of images or an .npz")
    arrays = []
    for f in files:
        with Image.open(f) as im:
            arrays.append(np.asarray(im.convert("L" if im.mode in ("L", "LA", "I", "I;16", "1") else "RGB")))
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise EarthmoverError(f"{path}: images have different sizes {sorted(shapes)[:3]}; resize them to one size first")
    return np.stack(arrays)


def resolve(spec: str) -> tuple[np.ndarray, dict]:
    """Load an image set; returns (images, info) where info has 'label' and, for cacheable sets, 'key'."""
    base, split = _split_spec(str(spec))
    path = Path(base).expanduser()
    if path.is_dir():
        images = _folder_images(path)
        return images, {"label": str(path)}
    if path.suffix == ".npz":
        if not path.is_file():
            raise EarthmoverError(f"{path}: no such .npz file; pass an existing file or a folder of images")
        st = path.stat()
        key = f"{path.stem}-{split or 'x'}-{hashlib.sha1(f'{path.resolve()}:{st.st_size}:{st.st_mtime_ns}'.encode()).hexdigest()[:10]}"
        return _npz_images(path, split), {"label": f"{path}" + (f":{split}" if split else ""), "key": key}
    if split is not None and re.fullmatch(r"[A-Za-z0-9_\-]+", base):
        for d in data_dirs():
            candidate = d / f"{base}.npz"
            if candidate.is_file():
                return _npz_images(candidate, split), {"label": f"{base}:{split}", "key": f"{base}-{split}"}
        searched = ", ".join(str(d) for d in data_dirs())
        raise EarthmoverError(
            f"reference {spec!r}: no {base}.npz in the data directories ({searched}); "
            "set EARTHMOVER_DATA to the folder holding it, or pass a path to an .npz or image folder"
        )
    raise EarthmoverError(
        f"reference {spec!r}: expected NAME:SPLIT (e.g. mnist:test), a .npz file, or a folder of images"
    )


def reference_features(spec, extractor, n: int | None = None, batch_size: int = 100, want_probs: bool = False,
                       use_cache: bool = True) -> tuple[Extracted, str]:
    """Features of the first ``n`` images of a set (all when None), cached for named sets and files.

    Returns (features, label). ``spec`` may also be an in-memory array (never cached; label 'array').
    """
    if not isinstance(spec, (str, os.PathLike)):
        images = spec if n is None else spec[:n]
        return extract(extractor, images, batch_size=batch_size, want_probs=want_probs), "array"
    images, info = resolve(str(spec))
    if n is not None:
        if n > len(images):
            raise EarthmoverError(f"reference {spec!r}: asked for n={n} images but it holds {len(images)}; lower n")
        images = images[:n]
    label = info["label"]
    if not use_cache or "key" not in info:
        return extract(extractor, images, batch_size=batch_size, want_probs=want_probs), label
    path = cache_dir() / "reference" / f"{info['key']}-{extractor_id(extractor)}-n{len(images)}.npz"
    if path.is_file():
        with np.load(path) as d:
            if not want_probs or "probs" in d:
                return Extracted(d["features"], d["probs"] if "probs" in d else None), label
    out = extract(extractor, images, batch_size=batch_size, want_probs=want_probs or getattr(extractor, "has_probs", False))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    arrays = {"features": out.features} | ({"probs": out.probs} if out.probs is not None else {})
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return out, label
