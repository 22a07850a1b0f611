"""One owner per run directory while it trains (issue 26).

``train`` holds an exclusive ``fcntl.flock`` on ``RUN/.lock`` for the run's life; a second
``train --resume RUN`` (or ``train --out RUN``) is refused in one line naming the process that
holds it. The kernel releases the lock when the holder dies, so a crash or SIGKILL leaves no stale
lock. Commands that only read a run (``sample``, ``eval``, ``report``, ``fid``) take no lock: every
file they read is replaced atomically (checkpoints, config.toml) or read line by line, skipping a
partial last line (metrics.jsonl).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from earthmover.errors import EarthmoverError

__all__ = ["LOCK_NAME", "RunLock", "process_alive"]

LOCK_NAME = ".lock"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(fd: int, wait: float = 1.0) -> str:
    """The holder's pid from the lock file. The holder writes it just after taking the lock, so a
    second process that arrives in between waits for it a little (up to ``wait`` seconds)."""
    deadline = time.monotonic() + wait
    while True:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if holder.isdigit() or time.monotonic() > deadline:
            return holder
        time.sleep(0.02)


class RunLock:
    """The exclusive lock on a run directory; ``release()`` (or the process's end) frees it."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_NAME
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise EarthmoverError(
                f"run directory {str(run_dir)!r} is in use: {who} is training it (it holds {self.path}); "
                f"wait for it to end, or stop it (kill -TERM {holder or 'PID'}) and resume then"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
