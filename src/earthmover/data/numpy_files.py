"""NumPy files recognised by their first bytes, so a broken one is named for what it is."""

from __future__ import annotations

import os
from pathlib import Path


def not_numpy_reason(path: str | os.PathLike) -> str | None:
    """Why a .npy or .npz file cannot be a NumPy file, from its first bytes, or None when its header
    looks right. (numpy falls back to unpickling an unknown file and then calls any garbage
    "pickled (object) data": that names the wrong problem.)"""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(6)
    except OSError:
        return None
    suffix = path.suffix.lower()
    if suffix == ".npy" and not head.startswith(b"\x93NUMPY"):
        return (
            "not a NumPy file: it does not start with the .npy header (it may be truncated, empty or another "
            "format renamed); re-create it with numpy.save"
        )
    if suffix == ".npz" and not head.startswith(b"PK"):
        return (
            "not a NumPy file: an .npz is a zip archive and this is none (it may be truncated, empty or another "
            "format renamed); re-create it with numpy.savez"
        )
    return None
