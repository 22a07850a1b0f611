"""`earthmover train | sample | report | eval | fid | emd | study | export`.

Each command lives beside the idea it serves, in a module named `command.py`
that exposes `register(subparsers)`; this file only assembles them and turns
user errors into one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
from typing import NoReturn

from earthmover.errors import EarthmoverError

# Modules that register subcommands, in the order `--help` lists them.
COMMAND_MODULES = (
    "earthmover.train.command",  # train
    "earthmover.train.sample_command",  # sample, report
    "earthmover.metrics.command",  # eval, fid
    "earthmover.metrics.stats_command",  # stats
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
    parser.add_argument(
        "--plugins",
        metavar="MODULES",
        help="comma-separated plug-in modules to import (also $EARTHMOVER_PLUGINS); a plug-in that a run's "
        "config.toml records is imported only when named here or there",
    )
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


# Exit statuses (README, "Exit statuses and failed commands").
USER_ERROR = 2
WRITE_FAULT = 4  # a file or stdout could not be written: no space left, or not writable
BROKEN_PIPE = 128 + signal.SIGPIPE  # stdout closed by the reader (`| head`): quiet, as Unix tools end
WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's final flush of what stdout still buffers
    neither fails nor prints "Exception ignored"."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class _NamedStdout:
    """sys.stdout whose write faults name it (an OSError from print() carries no file name)."""

    def __init__(self, stream):
        self._stream = stream

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def _named(self, method, *args):
        try:
            return method(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            if exc.filename is None:
                exc.filename = "stdout"
            raise

    def write(self, text):
        return self._named(self._stream.write, text)

    def flush(self):
        return self._named(self._stream.flush)


def _write_fault(exc: OSError, where: str | None = None) -> str:
    where = where or exc.filename or "a file"
    cause = "no space left" if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) else "not writable"
    return f"cannot write {where}: {cause} ({exc.strerror or exc}); free space or choose another location"


def _run(args) -> int:
    """The command, with faults outside its own checks turned into one line (issue 26)."""
    from earthmover import plugins

    stdout, sys.stdout = sys.stdout, _NamedStdout(sys.stdout)
    try:
        status = int(args.func(args) or 0)
    except EarthmoverError as exc:
        print(f"earthmover: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_status", USER_ERROR)
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS or plugins.debugging():
            raise
        if exc.filename == "stdout":
            _silence_stdout()
        print(f"earthmover: error: {_write_fault(exc)}", file=sys.stderr)
        return WRITE_FAULT
    except KeyboardInterrupt:
        print("earthmover: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stdout = stdout
    try:
        sys.stdout.flush()  # a full device or a closed pipe shows here, not at exit
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE
    except OSError as exc:
        _silence_stdout()
        print(f"earthmover: error: {_write_fault(exc, 'stdout')}", file=sys.stderr)
        return WRITE_FAULT
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        _preload_plugins(argv)
    except EarthmoverError as exc:
        print(f"earthmover: error: {exc}", file=sys.stderr)
        return USER_ERROR
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return _run(args)


if __name__ == "__main__":
    raise SystemExit(main())
