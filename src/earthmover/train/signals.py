"""Stopping a run cleanly: SIGINT or SIGTERM sets the run's stop event (the loop stops after the step,
writes its checkpoint and exits with status 3); a second Ctrl-C stops at once (the last checkpoint stays)."""

from __future__ import annotations

import signal
import threading


def install_stop_handlers(stop: threading.Event) -> dict | None:
    """Handlers that set `stop` on SIGINT and SIGTERM (main thread only); returns the previous ones."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {}

    def handler(signum, frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, the last checkpoint stays
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def restore_handlers(previous: dict | None) -> None:
    """Put back the handlers :func:`install_stop_handlers` replaced."""
    for sig, old in (previous or {}).items():
        signal.signal(sig, old)
