"""Checks of a command's file and folder arguments, before it starts work: validate first, write last.

Output locations (:func:`output_file`, :func:`output_dir`): a folder given where a file goes, a file where
a folder goes, a missing parent folder, a folder that cannot be written; input files (:func:`input_file`):
a folder or a missing path. Each is refused with one :class:`~earthmover.errors.EarthmoverError` line.

Writability is tested by creating (and removing) a temporary file, never with ``os.access``, which
says yes to root for any folder; so an unwritable location is found also when running as root.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from earthmover.errors import EarthmoverError


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and not probe.is_symlink():
        if probe.parent == probe:
            break
        probe = probe.parent
    return probe


def _writable_dir(folder: Path) -> bool:
    """Whether a file can be created in `folder` (tried for real: os.access says yes to root)."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".earthmover-probe-"):
            return True
    except OSError:
        return False


def writable_dir(folder: str | os.PathLike) -> bool:
    """Whether a file can be created in `folder`, tried for real (``os.access`` says yes to root on /proc)."""
    return _writable_dir(Path(folder))


def _check_ancestors(path: Path, flag: str) -> Path:
    """The nearest existing ancestor of `path` must be a writable folder; returns it."""
    existing = _nearest_existing(path.parent if path.parent != path else path)
    if not existing.is_dir():
        raise EarthmoverError(
            f"{flag} {str(path)!r}: {str(existing)!r} is a file, not a folder; pick a path inside a folder"
        )
    if not _writable_dir(existing):
        raise EarthmoverError(
            f"{flag} {str(path)!r}: the folder {str(existing)!r} is not writable; pick a location you can write to"
        )
    return existing


def output_file(path: str | os.PathLike, flag: str, *, create_parents: bool = False, example: str = "out.json") -> Path:
    """Check that a file can be written at `path` (before any work); nothing is created.

    Refused: an existing folder at `path`; a parent that is a file; a parent folder that does not
    exist (unless `create_parents`: then its nearest existing ancestor must be writable); a folder
    that cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise EarthmoverError(f"{flag} {str(path)!r} is a folder; pass a file path such as {str(path / example)!r}")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise EarthmoverError(
            f"{flag} {str(path)!r}: {str(parent)!r} is a file, not a folder; pick a path inside a folder"
        )
    if not parent.exists():
        if not create_parents:
            existing = _nearest_existing(parent)
            if not existing.is_dir():
                raise EarthmoverError(
                    f"{flag} {str(path)!r}: {str(existing)!r} is a file, not a folder; pick a path inside a folder"
                )
            raise EarthmoverError(
                f"{flag} {str(path)!r}: the folder {str(parent)!r} does not exist; create it (mkdir -p {parent}) or "
                "pick another path"
            )
        _check_ancestors(path, flag)
        return path
    if not _writable_dir(parent):
        raise EarthmoverError(
            f"{flag} {str(path)!r}: the folder {str(parent)!r} is not writable; pick a location you can write to"
        )
    if path.exists() and not os.access(path, os.W_OK):  # access(2) also sees the immutable flag, for root too
        raise EarthmoverError(
            f"{flag} {str(path)!r} exists and cannot be overwritten; pick another path or make it writable"
        )
    return path


def output_dir(path: str | os.PathLike, flag: str) -> Path:
    """Check that `path` is (or can be created as) a writable folder; nothing is created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise EarthmoverError(f"{flag} {str(path)!r} is a file; pass a folder (it is created if missing)")
    if path.is_dir():
        if not _writable_dir(path):
            raise EarthmoverError(f"{flag} {str(path)!r} is not writable; pick a folder you can write to")
        return path
    _check_ancestors(path, flag)
    return path


def input_file(path: str | os.PathLike, flag: str, what: str = "file") -> Path:
    """An existing regular file (a folder or a missing path is named as such)."""
    path = Path(path)
    if path.is_dir():
        raise EarthmoverError(f"{flag} {str(path)!r} is a folder; pass a {what}")
    if path.exists() and not path.is_file():  # a named pipe would block the read (issue 26)
        raise EarthmoverError(f"{flag} {str(path)!r} is not a regular file (a pipe or a device); pass a {what}")
    if not path.is_file():
        raise EarthmoverError(f"{flag} {str(path)!r} does not exist; pass the path of a {what}")
    return path
