"""IDX files, MNIST's original format (``.gz`` or not): magic ``0 0 dtype ndim``, big-endian
uint32 dimensions, then the data. The images file (``*-images-idx3-ubyte[.gz]``) is the source;
its labels file is taken from beside it when one exists under the standard name
(``images`` -> ``labels``, ``idx3`` -> ``idx1``)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from earthmover.errors import EarthmoverError

__all__ = ["read_idx", "parse_idx", "load_idx_pair", "is_idx_name"]

_IDX_DTYPES: dict[int, DTypeLike] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _is_gz(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def is_idx_name(path: Path) -> bool:
    stem = path.name.lower()[:-3] if _is_gz(path) else path.name.lower()
    return "idx" in stem or stem.endswith("-ubyte")


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or not)."""
    opener = gzip.open if _is_gz(path) else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as err:
        raise EarthmoverError(f"IDX file {str(path)!r}: cannot be read ({err}); re-download it") from None
    return parse_idx(data, str(path))


def parse_idx(data: bytes, where: str) -> np.ndarray:
    """The array held by the (decompressed) bytes of an IDX file; ``where`` names it in errors."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise EarthmoverError(
            f"IDX file {where!r}: bad header (not an IDX file); pass an MNIST-style *-idx3-ubyte file"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise EarthmoverError(f"IDX file {where!r}: truncated header; re-download it")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise EarthmoverError(
            f"IDX file {where!r}: holds {len(data) - header} data bytes, header says {expected}; the file is truncated "
            "or corrupt, re-download it"
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


def load_idx_pair(path: Path, name: str):
    images = read_idx(path)
    if images.ndim not in (3, 4):
        raise EarthmoverError(
            f"IDX file {str(path)!r}: holds a {images.ndim}-D array {images.shape}, expected images (N, H, W); "
            "pass the images file (e.g. train-images-idx3-ubyte), not the labels file"
        )
    labels_path = _idx_labels_path(path)
    labels = read_idx(labels_path) if labels_path is not None else None
    return images, labels, name, None
