"""Paths a user names that are not what they look like (issue 26): a named pipe or a device where a
file is read (reading it would block until killed), and a symlink loop inside a folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from earthmover.errors import EarthmoverError

__all__ = ["refuse_special", "unfollowable"]


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
