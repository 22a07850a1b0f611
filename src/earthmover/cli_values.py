"""Command-line values checked before any work (issue 26): a seed that fits the random generators,
and a picture's file format that matplotlib can write."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from earthmover.errors import EarthmoverError

__all__ = ["MAX_SEED", "seed", "image_format"]

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit value


def seed(text: str) -> int:
    """argparse type: a whole number from 0 to MAX_SEED."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (e.g. 0)") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is invalid: a seed is a whole number from 0 to {MAX_SEED}")
    return value


def image_format(path: str | os.PathLike | None, flag: str) -> None:
    """Refuse, before any work, a picture path whose suffix matplotlib cannot write (no suffix: PNG)."""
    if path is None:
        return
    suffix = Path(path).suffix.lower().lstrip(".")
    if not suffix:
        return
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if suffix not in formats:
        raise EarthmoverError(
            f"{flag} {str(path)!r}: format {suffix!r} cannot be written; use one of {', '.join(formats)} (e.g. .png)"
        )
