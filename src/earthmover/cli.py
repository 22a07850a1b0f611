"""`earthmover train | sample | report | eval | fid | emd | study | export`.

Each command lives beside the idea it serves, in a module named `command.py`
that exposes `register(subparsers)`; this file only assembles them and turns
user errors into one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from earthmover.errors import EarthmoverError

# Modules that register subcommands, in the order `--help` lists them.
COMMAND_MODULES = (
    "earthmover.train.command",  # train
    "earthmover.train.sample_command",  # sample, report
    "earthmover.metrics.command",  # eval, fid
    "earthmover.ot.command",  # emd
    "earthmover.studies.command",  # study
    "earthmover.export.command",  # export
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors the way the rest of the CLI does: one line, status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"earthmover: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from earthmover import __version__

    parser = _Parser(prog="earthmover", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"earthmover {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command is not part of this build
                continue
            raise
        module.register(sub)
    return parser


def _preload_plugins(argv: list[str]) -> None:
    """Plug-in modules register entries whose parameters become flags: import the ones named by
    --plugins (and $EARTHMOVER_PLUGINS) before the parser is built."""
    from earthmover.registry import load_plugins

    names = [
        a.partition("=")[2] if "=" in a else (argv[i + 1] if i + 1 < len(argv) else "")
        for i, a in enumerate(argv)
        if a == "--plugins" or a.startswith("--plugins=")
    ]
    load_plugins(",".join(names))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        _preload_plugins(argv)
    except EarthmoverError as exc:
        print(f"earthmover: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except EarthmoverError as exc:
        print(f"earthmover: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("earthmover: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
