"""Image data: one call, ``load_images(source)``, returns an :class:`ImageSet` (uint8 ``(N, C, H, W)``
images, optional labels; :meth:`ImageSet.to_float` gives ``[-1, 1]``).

Sources ``load_images`` accepts (each lives in its own module under ``earthmover.data.sources``;
the named ones are the entries of :data:`~earthmover.data.sources.registry.IMAGE_SOURCES`, and a plug-in
adds one there)
------------------------------------------------------------------------------------------------
``"mnist"``, ``"fashion-mnist"``, ``"cifar10"`` (``NAME:train``, ``NAME:test``)
    The public datasets, downloaded on first use from their canonical locations, verified by
    SHA-256 and cached (:mod:`~earthmover.data.sources.public`). ``mnist`` first uses a local
    ``mnist.npz`` when there is one (``$EARTHMOVER_MNIST``, ``../shared/data/mnist.npz``;
    :func:`find_mnist`), without any download.
``"digits"``, ``"digits:train"``, ``"digits:test"``
    scikit-learn's 8x8 digits (:mod:`~earthmover.data.sources.digits`).
``"torchvision:NAME"``
    A ``torchvision.datasets`` class (:mod:`~earthmover.data.sources.torchvision`).
``"http(s)://.../file.npz"``, ``"file:///.../file.npz"``
    Downloaded once into the cache, then read as an ``.npz`` (:mod:`~earthmover.data.sources.url`).
a path to a ``.npz`` or ``.npy``
    :mod:`~earthmover.data.sources.npz`; an ``.npz`` holding one image array is simply read.
a path to an IDX file (``*-images-idx3-ubyte[.gz]``)
    :mod:`~earthmover.data.sources.idx`, labels from the file beside it.
``"folder:PATH"`` or a path to a folder of images
    :mod:`~earthmover.data.sources.folder`: PNG/JPEG/..., class subfolders give labels, mixed
    sizes are center-cropped and resized to ``image_size``, ``skip_bad`` skips unreadable files,
    decoded in parallel and cached as one array.

Named sources take precedence over a file or folder of the same name; write ``./digits`` to mean
the folder. A split written in the source (``"mnist:test"``) takes precedence over the default;
without one, named sources read ``train``. Files that hold a single set (``.npy``, IDX, folders,
``.npz`` without ``x_<split>`` keys) ignore ``split``.

After loading, in this order: ``limit`` keeps the first N images, ``image_size`` makes square
``image_size x image_size`` images (centered square, then bilinear with antialiasing; see
:mod:`~earthmover.data.transforms`), and ``channels`` converts to 1 channel (601 luminance) or 3.

Every failure a user can cause raises :class:`earthmover.errors.EarthmoverError` with a
one-line message naming the problem and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from earthmover.data.download import default_cache_dir, url_filename
from earthmover.data.image_set import ImageSet, as_labels, as_uint8_nchw
from earthmover.data.sources.folder import load_folder
from earthmover.data.sources.idx import is_idx_name, load_idx_pair, read_idx
from earthmover.data.sources.npz import load_npy, load_npz
from earthmover.data.sources.public import find_mnist
from earthmover.data.sources.registry import IMAGE_SOURCES, named_sources, sources_text
from earthmover.data.sources.url import URL, fetch_url
from earthmover.data.transforms import convert_channels, resize
from earthmover.errors import EarthmoverError, did_you_mean
from earthmover.odd_paths import refuse_special  # issue 26

__all__ = ["ImageSet", "load_images", "find_mnist", "default_cache_dir", "resize", "convert_channels", "read_idx"]

SPLITS = ("train", "test")


def __getattr__(name: str):
    # NAMED_SOURCES and SOURCE_PREFIXES are read from the registry when asked, so plug-ins count.
    if name == "NAMED_SOURCES":
        return tuple(named_sources())
    if name == "SOURCE_PREFIXES":
        return (*IMAGE_SOURCES, "folder")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_images(
    source: str | os.PathLike,
    *,
    split: str | None = None,
    image_size: int | None = None,
    channels: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    skip_bad: bool = False,
) -> ImageSet:
    """Load images from ``source`` (see the module docstring for every accepted source).

    ``split`` None means the source's own (``train`` for named sources and ``x_train`` files)."""
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise EarthmoverError(
            f"image_size={image_size!r}: expected a positive integer such as 32, or None to keep the size"
        )
    if channels not in (None, 1, 3):
        raise EarthmoverError(f"channels={channels!r}: expected 1 (gray), 3 (RGB) or None to keep the channels")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise EarthmoverError(f"limit={limit!r}: expected a positive integer number of images, or None for all")
    if split is not None and (not isinstance(split, str) or not split):
        raise EarthmoverError(f"split={split!r}: expected a split name such as 'train' or 'test'")

    folder = folder_of(source)
    if folder is not None:
        images, labels, name, classes, skipped = load_folder(
            folder, image_size=image_size, limit=limit, channels=channels, skip_bad=skip_bad, cache_dir=cache_dir
        )
    else:
        images, labels, name, classes = _dispatch(source, split, cache_dir, limit)
        skipped = 0
        if images.shape[0] == 0:
            raise EarthmoverError(f"source {name!r} holds no images; point it at a non-empty dataset")
        if limit is not None:
            images = images[:limit]
            labels = None if labels is None else labels[:limit]
        images = as_uint8_nchw(images, name)
        if labels is not None:
            labels = as_labels(labels, images.shape[0], name)
    if image_size is not None:
        images = resize(images, image_size)
    if channels is not None:
        images = convert_channels(images, channels)
    return ImageSet(images=images, labels=labels, name=name, classes=classes, skipped=skipped)


def folder_of(source) -> Path | None:
    """The folder ``source`` names (``folder:PATH`` or an existing directory that is no named source)."""
    if isinstance(source, str) and source.lower().startswith("folder:"):
        path = Path(source[len("folder:") :]).expanduser()
        if not path.is_dir():
            raise EarthmoverError(
                f"source {source!r}: {str(path)!r} is not a folder; check the path (relative to {Path.cwd()})"
            )
        return path
    if isinstance(source, str) and (_named(source) or URL.match(source)):
        return None
    if isinstance(source, (str, os.PathLike)) and Path(source).expanduser().is_dir():
        return Path(source).expanduser()
    return None


def _named(source: str) -> str | None:
    head = source.partition(":")[0].lower()
    return head if head in IMAGE_SOURCES else None


def _dispatch(source, split, cache_dir, limit):
    """-> (images array or tensor, labels or None, name, class names or None)."""
    if isinstance(source, str):
        named = _named(source)
        if named is not None:
            entry = IMAGE_SOURCES[named]
            tail = source.partition(":")[2]
            if entry.argument:
                return entry.load(split or entry.splits[0], cache_dir=cache_dir, limit=limit, argument=tail)
            return entry.load(_named_split(source, tail, split, entry), cache_dir=cache_dir, limit=limit)
        if URL.match(source):
            path = fetch_url(source, cache_dir)
            return _load_file(path, split, limit, name=url_filename(source))
    if not isinstance(source, (str, os.PathLike)):
        raise EarthmoverError(f"source={source!r}: expected a source name, a path or a URL (str or Path)")
    path = Path(source).expanduser()
    refuse_special(path, f"source {os.fspath(source)!r}")  # a named pipe would block (issue 26)
    if path.exists():
        return _load_file(path, split, limit)
    text = os.fspath(source)
    if os.sep in text or "/" in text or path.suffix or text.startswith("."):
        raise EarthmoverError(f"source {text!r}: no such file or folder; check the path (relative to {Path.cwd()})")
    hint = did_you_mean(text, named_sources(), casefold=True).removeprefix("; ")
    raise EarthmoverError(
        f"source {text!r}: not a known source nor an existing path; {hint + ' ' if hint else ''}"
        f"use one of {sources_text()} (NAME:test for the test split), "
        "folder:PATH, a URL to an .npz, or a path to .npz/.npy/IDX/image folder"
    )


def _named_split(source: str, tail: str, split: str | None, entry) -> str:
    if tail:
        if split not in (None, "train", tail):
            raise EarthmoverError(
                f"source {source!r} names split {tail!r} but split={split!r} was passed; name the split in one place"
            )
        split = tail
    split = split or entry.splits[0]
    if split not in entry.splits:
        raise EarthmoverError(f"split {split!r} for source {source!r}: expected one of {', '.join(entry.splits)}")
    return split


def _load_file(path: Path, split, limit, name: str | None = None):
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".npz"]:
        return load_npz(path, split, name or path.name)
    if suffixes[-1:] == [".npy"]:
        return load_npy(path, limit), None, name or path.name, None
    if is_idx_name(path):
        return load_idx_pair(path, name or path.name)
    raise EarthmoverError(
        f"source {str(path)!r}: unrecognized file type; expected .npz, .npy, an IDX file (*-idx3-ubyte[.gz]) or a "
        "folder of images"
    )
