"""Paths a user names that are not what they look like (issue 26): a named pipe or a device where a
file is read (reading it would block until killed), a symlink loop inside a folder, and an
environment variable naming a folder that is a file or cannot be written."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from earthmover.errors import EarthmoverError

__all__ = ["env_folder", "refuse_special", "unfollowable"]


def refuse_special(path: str | os.PathLike, name: str) -> None:
    """Refuse, in one line, an existing ``path`` that is neither a regular file nor a folder."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing (or a broken link): the caller says so in its own words
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise EarthmoverError(
            f"{name}: {str(path)!r} is not a regular file or folder (a pipe, socket or device); pass a file or a folder"
        )


def unfollowable(path: str | os.PathLike, exc: OSError) -> EarthmoverError:
    """The one-line error for an entry of a folder that cannot be read (a symlink loop, say)."""
    return EarthmoverError(
        f"{str(Path(path))!r} cannot be read ({exc.strerror or exc}); remove it or point the link at a real file"
    )


def env_folder(name: str) -> Path | None:
    """The folder environment variable ``name`` points at (None when unset), checked without
    creating anything: a file, or a folder that cannot be created or written (``/proc/x``), is one
    line naming the variable."""
    value = os.environ.get(name)
    if not value:
        return None
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise EarthmoverError(f"{name}={value!r} is a file, not a folder; point it at a folder or unset it")
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise EarthmoverError(f"{name}={value!r}: {str(existing)!r} is a file, not a folder; point it at a folder")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".earthmover-probe-"):
            pass
    except OSError as exc:
        raise EarthmoverError(
            f"{name}={value!r}: the folder {str(existing)!r} is not writable ({exc.strerror}); "
            f"point it at a folder you can write to, or unset it"
        ) from None
    return path
