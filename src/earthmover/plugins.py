"""Which plug-in modules may be imported: only those the user names (issue 26).

A run directory is something people download, share and unpack; a module named only by a file
earthmover reads (a run's config.toml, a ``--config`` file, a checkpoint's config) is never
imported. The user names a plug-in with ``--plugins NAME`` or ``$EARTHMOVER_PLUGINS``; a file
that records one the user did not name stops the command with one line saying which plug-in the
run needs and how to allow it.

A plug-in that fails on import (raises, or is not valid Python) ends in one line naming the module
and the error; ``EARTHMOVER_DEBUG=1`` lets the full traceback through.
"""

from __future__ import annotations

import importlib
import os

from earthmover.errors import EarthmoverError

__all__ = ["PLUGINS_ENV", "DEBUG_ENV", "import_plugins", "named_by_user", "debugging"]

PLUGINS_ENV = "EARTHMOVER_PLUGINS"
DEBUG_ENV = "EARTHMOVER_DEBUG"

# Names the user gave in this process (--plugins, a library call); $EARTHMOVER_PLUGINS is read live.
_NAMED: set[str] = set()


def debugging() -> bool:
    """Whether ``$EARTHMOVER_DEBUG`` asks for full tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def _split(names: str | list[str] | None) -> list[str]:
    if names is None:
        return []
    items = names.split(",") if isinstance(names, str) else list(names)
    return [n.strip() for n in items if n.strip()]


def named_by_user() -> set[str]:
    """The plug-ins the user named: in this process, and in ``$EARTHMOVER_PLUGINS``."""
    return _NAMED | set(_split(os.environ.get(PLUGINS_ENV, "")))


def _check_name(name: str) -> None:
    if not all(part.isidentifier() for part in name.split(".")):
        raise EarthmoverError(
            f"plug-in {name!r} is not a module name; pass an importable name such as 'mypkg.losses' (no relative names)"
        )


def _import(name: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise EarthmoverError(
                f"plug-in module {name!r} was not found; put its folder on PYTHONPATH "
                f"(or install it) and pass its import name to --plugins"
            ) from None
        if debugging():
            raise
        raise EarthmoverError(f"plug-in module {name!r} failed on import: {_first_line(exc)}; {_DEBUG_HINT}") from None
    except Exception as exc:  # a plug-in is user code: anything it raises is its author's mistake
        if debugging():
            raise
        raise EarthmoverError(f"plug-in module {name!r} failed on import: {_first_line(exc)}; {_DEBUG_HINT}") from None


_DEBUG_HINT = f"fix the module, or set {DEBUG_ENV}=1 to see the traceback"


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({exc.filename}, line {exc.lineno})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def import_plugins(names: str | list[str] | None = None, recorded_in: str | None = None) -> list[str]:
    """Import plug-in modules (comma-separated names, plus ``$EARTHMOVER_PLUGINS``); each registers
    its entries on import. Returns the names imported.

    Args:
        names: the modules to import.
        recorded_in: where the names come from when a FILE names them (``"run/config.toml"``); then
            each must also be named by the user, else nothing is imported and one line says how to
            allow it. ``None``: the caller (the user, a library call) names them.
    """
    requested = _split(names)
    for name in requested:
        _check_name(name)
    if recorded_in is not None:
        missing = [n for n in requested if n not in named_by_user()]
        if missing:
            listed = ",".join(missing)
            raise EarthmoverError(
                f"{recorded_in} records plug-in {listed!r}, and earthmover imports no module named only by a file "
                f"it reads; if you trust it, name it again: --plugins {listed} (before the command) or "
                f"{PLUGINS_ENV}={listed}"
            )
    else:
        _NAMED.update(requested)
    env = _split(os.environ.get(PLUGINS_ENV, ""))
    for name in env:
        _check_name(name)
    everything = list(dict.fromkeys([*requested, *env]))
    for name in everything:
        _import(name)
    return everything
