"""Image data sources: one call, ``load_images(source)``, returns an :class:`ImageSet`.

An ``ImageSet`` keeps images as ``uint8`` tensors shaped ``(N, C, H, W)`` (small in memory,
exact to store); :meth:`ImageSet.to_float` gives the float32 tensor in ``[-1, 1]`` that the
networks use (0 maps to -1 and 255 to +1 exactly).

Sources ``load_images`` accepts
-------------------------------
``"mnist"``, ``"mnist:train"``, ``"mnist:test"``
    A local ``mnist.npz`` with arrays ``x_train, y_train, x_test, y_test`` (uint8, 28x28).
    :func:`find_mnist` looks, in this order, at ``$EARTHMOVER_MNIST`` (a path), at
    ``<cache dir>/mnist.npz``, and at ``shared/data/mnist.npz`` beside the current directory or
    any of its parents, then beside the repository this module lives in. Nothing is downloaded.
``"digits"``, ``"digits:train"``, ``"digits:test"``
    scikit-learn's 8x8 handwritten digits (1797 images, shipped inside scikit-learn). Values
    0..16 are scaled to 0..255 (``round(v * 255 / 16)``). The split is fixed: the first 1500
    images are ``train``, the remaining 297 are ``test``.
``"torchvision:NAME"``
    A dataset class of ``torchvision.datasets`` (``torchvision:MNIST``, ``torchvision:CIFAR10``,
    ...) with ``root=<cache dir>/torchvision`` and ``download=True``. Needs the optional extra
    ``pip install earthmover[vision]``.
``"http(s)://.../file.npz"``, ``"file:///.../file.npz"``
    Downloaded once into ``<cache dir>/downloads/`` (written to a temporary file, then renamed,
    so an interrupted download never leaves a partial file behind), then loaded as a ``.npz``.
a path to a ``.npz``
    Arrays ``x_<split>`` / ``y_<split>`` if present; else ``images`` / ``labels``; else the
    first array, without labels. Opened with ``allow_pickle=False``.
a path to a ``.npy``
    Images only, no labels.
a path to an IDX file (MNIST's original format, ``.gz`` or not)
    The images file, e.g. ``train-images-idx3-ubyte.gz``. The labels file is taken from beside
    it when one exists under the standard name (``images`` -> ``labels``, ``idx3`` -> ``idx1``).
a path to a folder of images (PNG, JPEG, BMP, GIF, TIFF, WebP; read with PIL)
    Subfolders are classes: labels are the indices of the sorted subfolder names. A flat
    folder gives images without labels. All images must have one size unless ``image_size``
    is given, in which case each is resized. Gray images are promoted to RGB when the folder
    mixes both (or all converted to gray with ``channels=1``); 16-bit gray images are scaled
    by 255/65535; an alpha channel is dropped.

Named sources (``mnist``, ``digits``, ``torchvision:``) take precedence over a file or folder
of the same name; write ``./digits`` to mean the folder. A split written in the source
(``"mnist:test"``) takes precedence over the default ``split="train"``. Files that hold a
single set (``.npy``, IDX, folders, ``.npz`` without ``x_<split>`` keys) ignore ``split``.

Arrays are accepted as ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)`` with C in 1, 3, 4
(a fourth, alpha, channel is dropped). Integer arrays must lie in 0..255; float arrays are
read as ``[-1, 1]`` when they hold negative values, ``[0, 1]`` when their maximum is at most 1,
and ``[0, 255]`` otherwise.

After loading, in this order: ``limit`` keeps the first N images, ``image_size`` resizes to a
square ``image_size x image_size`` (bilinear with antialiasing, rounded back to uint8), and
``channels`` converts to 1 channel (ITU-R 601 luminance, ``0.299 R + 0.587 G + 0.114 B``, as
PIL's ``convert("L")``) or to 3 (the gray channel replicated).

Every failure a user can cause raises :class:`earthmover.errors.EarthmoverError` with a
one-line message naming the problem and the fix.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import inspect
import os
import re
import struct
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from earthmover.errors import EarthmoverError

__all__ = ["ImageSet", "load_images", "find_mnist", "default_cache_dir"]

SPLITS = ("train", "test")
DIGITS_TRAIN = 1500
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
NAMED_SOURCES = (
    "mnist", "mnist:train", "mnist:test",
    "digits", "digits:train", "digits:test",
    "torchvision:MNIST", "torchvision:FashionMNIST", "torchvision:CIFAR10",
)
MNIST_HELP = (
    "set EARTHMOVER_MNIST=/path/to/mnist.npz (arrays x_train, y_train, x_test, y_test), "
    "pass a path or an http(s):// URL to such an .npz, "
    "or install torchvision (pip install earthmover[vision]) and use 'torchvision:MNIST'"
)
LUMA = (0.299, 0.587, 0.114)
_URL = re.compile(r"^(https?|file)://", re.IGNORECASE)


@dataclass
class ImageSet:
    """Images as uint8 ``(N, C, H, W)``, optional int64 labels ``(N,)``, and a name for logs."""

    images: torch.Tensor
    labels: torch.Tensor | None
    name: str
    classes: list[str] | None = field(default=None)

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
        return self.images.to(torch.float32) / 127.5 - 1.0

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


# ----------------------------------------------------------------------------------------- API


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else ``$EARTHMOVER_CACHE``, else ``~/.cache/earthmover``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("EARTHMOVER_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "earthmover"


_PACKAGE_DIR = Path(__file__).resolve().parent


def _search_roots() -> list[Path]:
    """Folders whose ancestors may hold ``shared/data/mnist.npz``: the cwd, then this module's."""
    return [Path.cwd(), _PACKAGE_DIR]


def find_mnist(cache_dir: str | os.PathLike | None = None) -> Path | None:
    """Where a local ``mnist.npz`` is, or None (see the module docstring for the order)."""
    env = os.environ.get("EARTHMOVER_MNIST")
    candidates = [Path(env).expanduser()] if env else []
    candidates.append(default_cache_dir(cache_dir) / "mnist.npz")
    for root in _search_roots():
        candidates.extend(d / "shared" / "data" / "mnist.npz" for d in (root, *root.parents))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def load_images(
    source: str | os.PathLike,
    *,
    split: str = "train",
    image_size: int | None = None,
    channels: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    limit: int | None = None,
) -> ImageSet:
    """Load images from ``source`` (see the module docstring for every accepted source)."""
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise EarthmoverError(f"image_size={image_size!r}: expected a positive integer such as 32, or None to keep the size")
    if channels not in (None, 1, 3):
        raise EarthmoverError(f"channels={channels!r}: expected 1 (gray), 3 (RGB) or None to keep the channels")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise EarthmoverError(f"limit={limit!r}: expected a positive integer number of images, or None for all")
    if not isinstance(split, str) or not split:
        raise EarthmoverError(f"split={split!r}: expected a split name such as 'train' or 'test'")

    images, labels, name, classes = _dispatch(source, split, image_size, cache_dir, limit)

    if images.shape[0] == 0:
        raise EarthmoverError(f"source {name!r} holds no images; point it at a non-empty dataset")
    if limit is not None:
        images = images[:limit]
        labels = None if labels is None else labels[:limit]
    images = _as_uint8_nchw(images, name)
    if labels is not None:
        labels = _as_labels(labels, images.shape[0], name)
    if image_size is not None:
        images = resize(images, image_size)
    if channels is not None:
        images = convert_channels(images, channels)
    return ImageSet(images=images, labels=labels, name=name, classes=classes)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` -> uint8 ``(N, C, size, size)``, bilinear with antialiasing."""
    if images.shape[-2:] == (size, size):
        return images
    out = F.interpolate(images.to(torch.float32), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` with C in 1, 3 -> ``channels`` (replicate gray, or 601 luminance)."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor(LUMA, dtype=torch.float32).view(1, 3, 1, 1)
        gray = (images.to(torch.float32) * weights).sum(dim=1, keepdim=True)
        return gray.round_().clamp_(0, 255).to(torch.uint8)
    raise EarthmoverError(f"channels={channels}: cannot convert images with {have} channels; expected 1 or 3 channels")


# ------------------------------------------------------------------------------------ dispatch


def _dispatch(source, split, image_size, cache_dir, limit):
    """-> (images array or tensor, labels or None, name, class names or None)."""
    if isinstance(source, str):
        head, _, tail = source.partition(":")
        if head.lower() in ("mnist", "digits") and not _URL.match(source):
            split = _named_split(source, tail, split)
            if head.lower() == "mnist":
                return _load_mnist(split, cache_dir)
            return _load_digits(split)
        if head.lower() == "torchvision":
            return _load_torchvision(tail, split, cache_dir, limit)
        if _URL.match(source):
            return _load_path(_download(source, cache_dir), split, image_size, limit, name=_url_name(source))
    if not isinstance(source, (str, os.PathLike)):
        raise EarthmoverError(f"source={source!r}: expected a source name, a path or a URL (str or Path)")
    path = Path(source).expanduser()
    if path.exists():
        return _load_path(path, split, image_size, limit)
    text = os.fspath(source)
    if os.sep in text or "/" in text or path.suffix or text.startswith("."):
        raise EarthmoverError(f"source {text!r}: no such file or folder; check the path (relative to {Path.cwd()})")
    lowered = {s.lower(): s for s in NAMED_SOURCES}
    near = difflib.get_close_matches(text.lower(), list(lowered), n=1, cutoff=0.5)
    hint = f"did you mean {lowered[near[0]]!r}? " if near else ""
    raise EarthmoverError(
        f"source {text!r}: not a known source nor an existing path; {hint}"
        f"use one of {', '.join(NAMED_SOURCES[:6])}, torchvision:NAME, a URL to an .npz, or a path to .npz/.npy/IDX/image folder"
    )


def _named_split(source: str, tail: str, split: str) -> str:
    if tail:
        if split not in ("train", tail):
            raise EarthmoverError(
                f"source {source!r} names split {tail!r} but split={split!r} was passed; name the split in one place"
            )
        split = tail
    if split not in SPLITS:
        raise EarthmoverError(f"split {split!r} for source {source!r}: expected one of {', '.join(SPLITS)}")
    return split


def _load_path(path: Path, split, image_size, limit, name: str | None = None):
    if path.is_dir():
        return _load_folder(path, image_size, limit)
    suffixes = [s.lower() for s in path.suffixes]
    stem = path.name.lower()[:-3] if _is_gz(path) else path.name.lower()
    if suffixes[-1:] == [".npz"]:
        return _load_npz(path, split, name or path.name)
    if suffixes[-1:] == [".npy"]:
        return _load_npy(path, limit), None, name or path.name, None
    if "idx" in stem or stem.endswith("-ubyte"):
        return _load_idx_pair(path, name or path.name)
    raise EarthmoverError(
        f"source {str(path)!r}: unrecognized file type; expected .npz, .npy, an IDX file (*-idx3-ubyte[.gz]) or a folder of images"
    )


def _is_gz(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


# ------------------------------------------------------------------------------------- sources


def _load_mnist(split: str, cache_dir):
    env = os.environ.get("EARTHMOVER_MNIST")
    if env and not Path(env).expanduser().is_file():
        raise EarthmoverError(f"EARTHMOVER_MNIST={env!r}: no such file; point it at an mnist.npz or unset it")
    path = find_mnist(cache_dir)
    if path is None:
        raise EarthmoverError(f"source 'mnist': no local mnist.npz found; {MNIST_HELP}")
    images, labels, _, _ = _load_npz(path, split, f"mnist:{split}")
    return images, labels, f"mnist:{split}", [str(d) for d in range(10)]


def _load_digits(split: str):
    from sklearn.datasets import load_digits

    digits = load_digits()
    values = digits.images  # (1797, 8, 8) float64 in 0..16
    images = np.rint(values * (255.0 / 16.0)).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    part = slice(0, DIGITS_TRAIN) if split == "train" else slice(DIGITS_TRAIN, None)
    return images[part], labels[part], f"digits:{split}", [str(d) for d in range(10)]


def _npz_error(path: Path, err: Exception) -> EarthmoverError:
    from earthmover.checks import not_numpy_reason

    reason = not_numpy_reason(path)  # numpy calls any garbage "pickled (object) data"
    if reason:
        return EarthmoverError(f"file {str(path)!r} cannot be read: it is {reason}")
    return EarthmoverError(
        f"file {str(path)!r}: cannot be read as .npz/.npy ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'corrupt'}); "
        "re-download or re-create it with numpy.savez"
    )


def _load_npz(path: Path, split: str, name: str):
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            if not keys:
                raise EarthmoverError(f"file {str(path)!r} holds no arrays; save images into it with numpy.savez")
            splits = sorted(k[2:] for k in keys if k.startswith("x_"))
            if splits:
                if split not in splits:
                    raise EarthmoverError(
                        f"split {split!r} for {str(path)!r}: expected one of {', '.join(splits)} (arrays x_<split>)"
                    )
                images = npz[f"x_{split}"]
                labels = npz[f"y_{split}"] if f"y_{split}" in keys else None
                return images, labels, (name if ":" in name else f"{name}:{split}"), None
            if "images" in keys:
                return npz["images"], (npz["labels"] if "labels" in keys else None), name, None
            return npz[keys[0]], None, name, None
    except EarthmoverError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise _npz_error(path, err) from None


def _load_npy(path: Path, limit):
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise _npz_error(path, err) from None
    return np.array(array[:limit] if limit is not None else array)


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or not): magic ``0 0 dtype ndim``, big-endian dims, then data."""
    opener = gzip.open if _is_gz(path) else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as err:
        raise EarthmoverError(f"IDX file {str(path)!r}: cannot be read ({err}); re-download it") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise EarthmoverError(f"IDX file {str(path)!r}: bad header (not an IDX file); pass an MNIST-style *-idx3-ubyte file")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise EarthmoverError(f"IDX file {str(path)!r}: truncated header; re-download it")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise EarthmoverError(
            f"IDX file {str(path)!r}: holds {len(data) - header} data bytes, header says {expected}; the file is truncated or corrupt, re-download it"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_labels_path(path: Path) -> Path | None:
    name = path.name
    guess = name.replace("images", "labels").replace("idx3", "idx1")
    if guess == name:
        return None
    base = guess[:-3] if guess.lower().endswith(".gz") else guess
    for candidate in (base, base + ".gz"):
        if (path.parent / candidate).is_file():
            return path.parent / candidate
    return None


def _load_idx_pair(path: Path, name: str):
    images = read_idx(path)
    if images.ndim not in (3, 4):
        raise EarthmoverError(
            f"IDX file {str(path)!r}: holds a {images.ndim}-D array {images.shape}, expected images (N, H, W); "
            "pass the images file (e.g. train-images-idx3-ubyte), not the labels file"
        )
    labels_path = _idx_labels_path(path)
    labels = read_idx(labels_path) if labels_path is not None else None
    return images, labels, name, None


def _load_folder(root: Path, image_size, limit):
    def visible(name: str) -> bool:
        return not name.startswith(".")

    def image_files(folder: Path, recursive: bool) -> list[Path]:
        found = folder.rglob("*") if recursive else folder.iterdir()
        return sorted(
            p for p in found
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            and all(visible(q) for q in p.relative_to(folder).parts)
        )

    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and visible(p.name))
    flat = image_files(root, recursive=False)
    if subdirs and flat:
        raise EarthmoverError(
            f"folder {str(root)!r}: holds both images and subfolders; put every image in a class subfolder, or none"
        )
    if subdirs:
        classes = [d.name for d in subdirs]
        files, labels = [], []
        for index, d in enumerate(subdirs):
            found = image_files(d, recursive=True)
            if not found:
                raise EarthmoverError(
                    f"class folder {str(d)!r} holds no images ({', '.join(IMAGE_SUFFIXES)}); add images or remove the folder"
                )
            files.extend(found)
            labels.extend([index] * len(found))
    else:
        classes, files, labels = None, flat, None
    if not files:
        raise EarthmoverError(
            f"folder {str(root)!r} holds no images ({', '.join(IMAGE_SUFFIXES)}); point it at a folder of images"
        )
    if limit is not None:
        files = files[:limit]
        labels = None if labels is None else labels[:limit]
    arrays = [_read_image(f) for f in files]
    if any(a.shape[0] == 3 for a in arrays):
        arrays = [np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a for a in arrays]
    if image_size is not None:
        tensors = [resize(torch.from_numpy(a).unsqueeze(0), image_size) for a in arrays]
        images = torch.cat(tensors)
    else:
        first = arrays[0].shape[1:]
        for f, a in zip(files, arrays):
            if a.shape[1:] != first:
                raise EarthmoverError(
                    f"folder {str(root)!r}: images of mixed sizes ({files[0].name} is {first[1]}x{first[0]}, "
                    f"{f.name} is {a.shape[2]}x{a.shape[1]}); pass image_size to resize them all"
                )
        images = torch.from_numpy(np.stack(arrays))
    labels_t = None if labels is None else torch.tensor(labels, dtype=torch.int64)
    return images, labels_t, root.name or str(root), classes


def _read_image(path: Path) -> np.ndarray:
    """One image file -> uint8 (C, H, W) with C = 1 (gray modes) or 3 (everything else; alpha dropped)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode.startswith("I"):  # 16-bit gray (PNG opens as I;16 or I): 0..65535 -> 0..255
                wide = np.array(img, dtype=np.float64)
                return np.clip(np.rint(wide * (255.0 / 65535.0)), 0, 255).astype(np.uint8)[None]
            gray = img.mode in ("1", "L", "LA", "I", "I;16", "F") or (img.mode == "P" and _palette_is_gray(img))
            img = img.convert("L" if gray else "RGB")
            array = np.array(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise EarthmoverError(f"image file {str(path)!r}: cannot be read ({type(err).__name__}); replace or remove it") from None
    return array[None] if array.ndim == 2 else np.ascontiguousarray(array.transpose(2, 0, 1))


def _palette_is_gray(img) -> bool:
    palette = img.getpalette() or []
    rgb = np.asarray(palette[: len(palette) // 3 * 3]).reshape(-1, 3)
    return bool(len(rgb)) and bool((rgb == rgb[:, :1]).all())


def _load_torchvision(dataset: str, split: str, cache_dir, limit):
    try:
        import torchvision  # noqa: F401
        import torchvision.datasets as tv_datasets
    except Exception as err:  # ImportError, or an OSError/RuntimeError when torch and torchvision mismatch
        raise EarthmoverError(
            f"source 'torchvision:{dataset}' needs torchvision, which failed to import ({type(err).__name__}); "
            "run pip install earthmover[vision] (PyPI's torchvision needs a matching torch version), "
            "or use a local .npz/IDX/folder instead"
        ) from None
    names = [n for n in dir(tv_datasets) if n[:1].isupper() and isinstance(getattr(tv_datasets, n), type)]
    if not dataset or dataset not in names:
        near = difflib.get_close_matches(dataset, names, n=1, cutoff=0.5)
        hint = f"did you mean 'torchvision:{near[0]}'? " if near else ""
        raise EarthmoverError(f"source 'torchvision:{dataset}': no such torchvision dataset; {hint}e.g. torchvision:MNIST, torchvision:CIFAR10")
    cls = getattr(tv_datasets, dataset)
    params = inspect.signature(cls).parameters
    kwargs = {"root": str(default_cache_dir(cache_dir) / "torchvision"), "download": True}
    if "train" in params:
        if split not in SPLITS:
            raise EarthmoverError(f"split {split!r} for torchvision:{dataset}: expected one of {', '.join(SPLITS)}")
        kwargs["train"] = split == "train"
    elif "split" in params:
        kwargs["split"] = split
    try:
        ds = cls(**kwargs)
    except Exception as err:
        raise EarthmoverError(f"torchvision:{dataset} (split {split!r}) failed to load: {err}; check the split and your connection") from None
    data = getattr(ds, "data", None)
    targets = getattr(ds, "targets", getattr(ds, "labels", None))
    if data is not None and hasattr(data, "shape") and len(getattr(data, "shape", ())) in (3, 4):
        images = data if isinstance(data, torch.Tensor) else np.asarray(data)
        labels = None if targets is None else np.asarray(targets)
    else:  # datasets that only yield (PIL image, target) pairs
        count = len(ds) if limit is None else min(limit, len(ds))
        pairs = [ds[i] for i in range(count)]
        images = np.stack([np.asarray(p[0]) for p in pairs])
        labels = np.asarray([p[1] for p in pairs]) if isinstance(pairs[0][1], (int, np.integer)) else None
    classes = list(getattr(ds, "classes", []) or []) or None
    return images, labels, f"torchvision:{dataset}:{split}", classes


# ----------------------------------------------------------------------------------- downloads


def _url_name(url: str) -> str:
    return Path(urllib.parse.urlparse(url).path).name or url


def _download(url: str, cache_dir) -> Path:
    """Fetch ``url`` once into ``<cache dir>/downloads`` (temp file + rename) and return the path."""
    filename = _url_name(url)
    if Path(filename).suffix.lower() not in (".npz", ".npy"):
        raise EarthmoverError(f"URL {url!r}: expected a URL to an .npz (or .npy) file; download other formats yourself and pass the path")
    folder = default_cache_dir(cache_dir) / "downloads"
    target = folder / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{filename}"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        _check_magic(Path(tmp), filename, url)
        os.replace(tmp, target)
    except EarthmoverError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise EarthmoverError(f"URL {url!r}: download failed ({reason}); check the address and your connection, or download it and pass the path") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _check_magic(path: Path, filename: str, url: str) -> None:
    """Refuse to cache what is not an .npz (a zip) or .npy, e.g. an HTML error page."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    ok = head.startswith(b"PK") if filename.lower().endswith(".npz") else head == b"\x93NUMPY"
    if not ok:
        raise EarthmoverError(
            f"URL {url!r}: the downloaded file is not a valid {Path(filename).suffix} (starts with {head!r}); check the address"
        )


# ----------------------------------------------------------------------------------- normalize


def _as_uint8_nchw(images, name: str) -> torch.Tensor:
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
                f"source {name!r}: images of shape {array.shape} have {array.shape[1]} channels; expected 1, 3 or 4 (NCHW or NHWC)"
            )
        array = array[:, :3]
    else:
        raise EarthmoverError(
            f"source {name!r}: array of shape {array.shape} is not images; expected (N, H, W), (N, C, H, W) or (N, H, W, C)"
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
        lo, hi = float(array.min()), float(array.max())
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1.0 or hi > 255.0:
            raise EarthmoverError(
                f"source {name!r}: float images span {lo}..{hi}, expected [-1, 1], [0, 1] or [0, 255]; rescale them first"
            )
        if lo < 0.0:
            scaled = (array + 1.0) * 127.5
        elif hi <= 1.0:
            scaled = array * 255.0
        else:
            scaled = array
        array = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    else:
        raise EarthmoverError(f"source {name!r}: images of dtype {array.dtype}; expected uint8, integers or floats")
    return torch.from_numpy(np.ascontiguousarray(array))


def _as_labels(labels, count: int, name: str) -> torch.Tensor:
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
        raise EarthmoverError(f"source {name!r}: labels must be non-negative integers (got dtype {array.dtype}); save class indices")
    return torch.from_numpy(array.astype(np.int64))
