"""Folders of image files (PNG, JPEG, BMP, GIF, TIFF, WebP; read with PIL): ``folder:PATH`` or a
bare directory.

Layout
    Subfolders are classes: labels are the indices of the sorted subfolder names, and each class
    folder is searched recursively. A flat folder gives images without labels. Hidden files and
    folders (``.name``) are ignored.
Pixels
    Each file becomes uint8 ``(C, H, W)``: gray modes give C = 1, everything else C = 3 (an alpha
    channel is dropped; 16-bit gray is scaled by 255/65535). With ``image_size`` every image is cut
    to its centered square and resampled to ``image_size x image_size`` (bilinear, antialiased;
    large JPEGs are decoded at a reduced scale first, never below ``image_size``), so mixed sizes
    and shapes are fine; without it all images must share one size. ``channels`` = 1 or 3 converts
    each image (601 luminance, or the gray channel replicated); otherwise a folder mixing gray and
    RGB files is read as RGB.
Bad files
    A file PIL cannot read stops the load with an error naming it; with ``skip_bad`` it is left
    out (its label too) and counted, and one line on stderr says how many were skipped.
Speed
    Large folders are decoded in worker processes (:func:`decode_files`).
    A folder of at least :data:`CACHE_MIN_FILES` images is cached after the first load as one
    array, ``<cache dir>/folders/<key>.npy`` (memory-mapped on later loads, so they start at
    once) beside ``<key>.meta.npz`` (labels, skipped files); the key covers the folder's path, the file list
    with each file's size and modification time, ``image_size``, ``channels``, ``skip_bad`` and
    the reader's version, so any change to the files or the transform reads them again.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from earthmover.data.download import atomic_write_npy, atomic_write_npz, default_cache_dir
from earthmover.data.transforms import center_crop_box
from earthmover.errors import EarthmoverError
from earthmover.odd_paths import unfollowable  # issue 26

__all__ = ["IMAGE_SUFFIXES", "CACHE_MIN_FILES", "list_folder", "read_image", "load_folder", "folder_cache_path"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_FORMATS = {".jpg": ("JPEG",), ".jpeg": ("JPEG",), ".png": ("PNG",)}
CACHE_MIN_FILES = 1000
"""Folders with at least this many images are cached as one array after the first load."""
READER_VERSION = 1


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _scan(folder: Path, recursive: bool) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of the image files in ``folder`` (sorted by path), one stat each."""
    found = []
    stack = [folder]
    while stack:
        current = stack.pop()
        with os.scandir(current) as entries:
            for entry in entries:
                if not _visible(entry.name):
                    continue
                try:  # a symlink loop raises here (issue 26)
                    is_dir, is_file = entry.is_dir(), entry.is_file()
                except OSError as exc:
                    raise unfollowable(entry.path, exc) from None
                if is_dir:
                    if recursive:
                        stack.append(Path(entry.path))
                elif is_file and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
                    st = entry.stat()
                    found.append((entry.path, st.st_size, st.st_mtime_ns))
    found.sort()
    return found


def list_folder(root: Path):
    """-> (files as (path, size, mtime_ns), labels or None, class names or None); errors for bad layouts."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p.name))
    flat = _scan(root, recursive=False)
    if subdirs and flat:
        raise EarthmoverError(
            f"folder {str(root)!r}: holds both images and subfolders; put every image in a class subfolder, or none"
        )
    if subdirs:
        classes = [d.name for d in subdirs]
        files, labels = [], []
        for index, d in enumerate(subdirs):
            found = _scan(d, recursive=True)
            if not found:
                raise EarthmoverError(
                    f"class folder {str(d)!r} holds no images ({', '.join(IMAGE_SUFFIXES)}); add images or remove the "
                    "folder"
                )
            files.extend(found)
            labels.extend([index] * len(found))
    else:
        classes, files, labels = None, flat, None
    if not files:
        raise EarthmoverError(
            f"folder {str(root)!r} holds no images ({', '.join(IMAGE_SUFFIXES)}); point it at a folder of images"
        )
    return files, labels, classes


def read_image(path, image_size: int | None = None, channels: int | None = None) -> np.ndarray:
    """One image file -> uint8 ``(C, H, W)`` (see the module docstring); raises ``OSError``/``ValueError``
    and PIL's errors for a file it cannot read (the callers name the file)."""
    from PIL import Image, UnidentifiedImageError

    hint = _FORMATS.get(os.path.splitext(str(path))[1].lower())
    img: Image.Image  # opened as an ImageFile, then converted
    try:  # the suffix's format first: PIL's probing of every plugin costs a quarter of a small file's time
        img = Image.open(path, formats=hint)
    except UnidentifiedImageError:
        if hint is None:
            raise
        img = Image.open(path)  # a PNG named .jpg, say
    with img:
        if image_size is not None and img.format == "JPEG":
            img.draft(img.mode, (image_size, image_size))  # decode at 1/2, 1/4 or 1/8 scale, never below image_size
        img.load()
        if img.mode.startswith("I"):  # 16-bit gray (PNG opens as I;16 or I): 0..65535 -> 0..255
            wide = np.array(img, dtype=np.float64)
            img = Image.fromarray(np.clip(np.rint(wide * (255.0 / 65535.0)), 0, 255).astype(np.uint8))
        gray = img.mode in ("1", "L", "LA", "F") or (img.mode == "P" and _palette_is_gray(img))
        img = img.convert("L" if gray else "RGB")
        if image_size is not None and img.size != (image_size, image_size):
            top, left, side = center_crop_box(img.height, img.width)
            if (img.width, img.height) != (side, side):  # crop first: resize's box would blend pixels beyond it
                img = img.crop((left, top, left + side, top + side))
            if side != image_size:
                img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
        if channels is not None and (img.mode == "L") != (channels == 1):
            img = img.convert("L" if channels == 1 else "RGB")  # PIL's 601 luminance, or gray replicated
        array = np.asarray(img, dtype=np.uint8)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return np.ascontiguousarray(array)


def _palette_is_gray(img) -> bool:
    palette = img.getpalette() or []
    rgb = np.asarray(palette[: len(palette) // 3 * 3]).reshape(-1, 3)
    return bool(len(rgb)) and bool((rgb == rgb[:, :1]).all())


def _read_or_reason(args) -> np.ndarray | str:
    path, image_size, channels = args
    try:
        return read_image(path, image_size, channels)
    except Exception as err:  # PIL raises many kinds (UnidentifiedImageError, OSError, SyntaxError, ...)
        return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'unreadable'}"


def _workers() -> int:
    return max(1, min(32, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


PROCESS_MIN_FILES = 2000
"""From this many files on, decode in worker processes (a DataLoader's); below, in the caller."""


class _Files:
    """Paths as a map-style dataset: item i is file i decoded (or why it could not be)."""

    def __init__(self, paths, image_size, channels):
        self.paths, self.image_size, self.channels = paths, image_size, channels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        return _read_or_reason((self.paths[i], self.image_size, self.channels))


def _as_list(batch):
    return batch


def decode_files(paths: list[str], image_size=None, channels=None, workers: int | None = None) -> list:
    """Each path's uint8 ``(C, H, W)`` array, or a string saying why it could not be read, in order.

    PIL's header parsing is Python (it holds the GIL: threads measured slower than one reader),
    so many small files decode in several processes, a DataLoader's workers, which only run PIL
    and numpy; fewer than :data:`PROCESS_MIN_FILES` are read in the caller (no start-up cost)."""
    workers = workers or _workers()
    if workers == 1 or len(paths) < PROCESS_MIN_FILES:
        return [_read_or_reason((p, image_size, channels)) for p in paths]
    from torch.utils.data import DataLoader

    loader: DataLoader[list] = DataLoader(
        _Files(paths, image_size, channels),  # type: ignore[arg-type]  # a map-style dataset by duck typing
        batch_size=256,
        num_workers=workers,
        collate_fn=_as_list,
        prefetch_factor=4,
    )
    return [item for batch in loader for item in batch]


def folder_cache_path(root: Path, files, image_size, channels, skip_bad, cache_dir=None) -> Path:
    digest = hashlib.sha256()
    digest.update(repr((READER_VERSION, str(root.resolve()), image_size, channels, bool(skip_bad))).encode())
    for path, size, mtime in files:
        digest.update(f"\0{path}\0{size}\0{mtime}".encode())
    return default_cache_dir(cache_dir) / "folders" / f"{root.name or 'root'}-{digest.hexdigest()[:20]}.npy"


def load_folder(root: Path, image_size=None, limit=None, channels=None, skip_bad: bool = False, cache_dir=None):
    """-> (uint8 images (N, C, H, W), int64 labels or None, name, classes, skipped count)."""
    import torch

    files, labels, classes = list_folder(root)
    if limit is not None:
        files = files[:limit]
        labels = None if labels is None else labels[:limit]
    name = root.name or str(root)
    cache = (
        folder_cache_path(root, files, image_size, channels, skip_bad, cache_dir)
        if len(files) >= CACHE_MIN_FILES
        else None
    )
    meta = None if cache is None else cache.with_suffix(".meta.npz")
    if meta is not None and meta.is_file() and cache.is_file():  # type: ignore[union-attr]  # meta: cache is set
        try:
            with np.load(meta, allow_pickle=False) as stored:
                labels_t = torch.from_numpy(stored["labels"]) if "labels" in stored.files else None
                skipped = [str(s) for s in stored["skipped"]]
            # mapped, not read: the pages come in as batches touch them (copy-on-write, so writable); cache is
            # set whenever meta is (the type: ignore below)
            images = torch.from_numpy(np.load(cache, mmap_mode="c", allow_pickle=False))  # type: ignore[arg-type]
            _say_skipped(root, skipped)
            return images, labels_t, name, classes, len(skipped)
        except (OSError, ValueError, KeyError):
            pass  # an unreadable cache file is rebuilt below
    arrays = decode_files([f[0] for f in files], image_size, channels)
    skipped, keep = [], []
    for index, ((path, _, _), result) in enumerate(zip(files, arrays)):
        if isinstance(result, str):
            if not skip_bad:
                raise EarthmoverError(
                    f"image file {path!r}: cannot be read ({result}); replace or remove it, or pass --data.skip-bad to "
                    "skip unreadable files"
                )
            skipped.append(path)
        else:
            keep.append(index)
    if skipped:
        arrays = [arrays[i] for i in keep]
        labels = None if labels is None else [labels[i] for i in keep]
        files = [files[i] for i in keep]
        if not arrays:
            raise EarthmoverError(
                f"folder {str(root)!r}: none of its {len(skipped)} image files could be read; check the files"
            )
    if channels is None and any(a.shape[0] == 3 for a in arrays):
        arrays = [np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a for a in arrays]
    first = arrays[0].shape[1:]
    for (path, _, _), a in zip(files, arrays):
        if a.shape[1:] != first:
            raise EarthmoverError(
                f"folder {str(root)!r}: images of mixed sizes ({Path(files[0][0]).name} is {first[1]}x{first[0]}, "
                f"{Path(path).name} is {a.shape[2]}x{a.shape[1]}); pass image_size (--image-size) to resize and "
                "center-crop them all"
            )
    images = torch.from_numpy(np.stack(arrays))
    labels_t = None if labels is None else torch.tensor(labels, dtype=torch.int64)
    _say_skipped(root, skipped)
    if cache is not None:
        stored = {"skipped": np.asarray(skipped, dtype=str)}
        if labels_t is not None:
            stored["labels"] = labels_t.numpy()
        try:
            atomic_write_npy(cache, images.numpy())
            atomic_write_npz(meta, **stored)  # type: ignore[arg-type]  # set with cache; written last: its presence means the pair is complete
        except OSError:
            pass  # a read-only or full cache only costs the next run a decode
    return images, labels_t, name, classes, len(skipped)


def _say_skipped(root: Path, skipped: list[str]) -> None:
    if skipped:
        print(
            f"earthmover: folder {str(root)!r}: skipped {len(skipped)} unreadable image file(s) (--data.skip-bad), "
            f"first {Path(skipped[0]).name!r}",
            file=sys.stderr,
        )
