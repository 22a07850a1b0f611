"""argparse value types that refuse a bad number by the flag's name, before a command starts work:
:func:`int_at_least` (``--n 0``, ``--seed -1``) and :func:`positive_float` (0, negative, ``nan``, ``inf``)."""

from __future__ import annotations

import argparse
import math


def int_at_least(low: int, example: int | None = None):
    """An argparse ``type`` for integers >= low (``--n 0``, ``--seed -1`` are refused by name)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer; pass an integer >= {low}") from None
        if value < low:
            hint = f" such as {example}" if example is not None else ""
            raise argparse.ArgumentTypeError(f"{value} is invalid; pass an integer >= {low}{hint}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def positive_float(example: float | None = None):
    """An argparse ``type`` for finite numbers > 0 (``nan``, ``inf``, 0 and negatives are refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; pass a finite number > 0") from None
        if not (math.isfinite(value) and value > 0):
            hint = f" such as {example}" if example is not None else ""
            raise argparse.ArgumentTypeError(f"{text} is invalid; pass a finite number > 0{hint}")
        return value

    parse.__name__ = "number > 0"
    return parse
