"""The one exception type for failures a user can cause, and the one "did you mean" hint.

Every message names the value, what was expected, and the fix, on one line.
The command-line interface prints it without a traceback and exits with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EarthmoverError(ValueError):
    """A bad value, a missing file, or an input the library cannot use."""

    exit_status: int = 2  # the CLI's exit status for it; a subclass (a write fault) may carry its own


def did_you_mean(
    name: str,
    choices: Iterable[str],
    n: int = 1,
    cutoff: float = 0.5,
    quote: bool = True,
    casefold: bool = False,
    prefix: str = "",
) -> str:
    """``"; did you mean 'x'?"`` for the nearest of `choices` (``'x' or 'y'`` for n = 2), or ``""``.
    ``casefold``: compare ignoring case (the choice is shown as spelled); ``prefix``: shown before it.

    The one place every unknown-name message (config fields, presets, registered plug-ins,
    data sources, flags) gets its hint from, so they all read alike."""
    spelled = {(str(c).casefold() if casefold else str(c)): str(c) for c in choices}
    key = str(name).casefold() if casefold else str(name)
    matches = [prefix + spelled[m] for m in difflib.get_close_matches(key, list(spelled), n=n, cutoff=cutoff)]
    return f"; did you mean {' or '.join(repr(m) if quote else m for m in matches)}?" if matches else ""


def unknown(what: str, name: str, choices: Iterable[str]) -> EarthmoverError:
    """``unknown <what> 'name'; expected one of a, b, c; did you mean 'b'?``"""
    choices = list(choices)
    return EarthmoverError(
        f"unknown {what} {name!r}; expected one of {', '.join(choices)}{did_you_mean(name, choices)}"
    )
