"""Stopping a run cleanly: SIGINT or SIGTERM sets the run's stop event (the loop stops after the step,
writes its checkpoint and exits with status 3); a second Ctrl-C stops at once (the last checkpoint stays)."""

from __future__ import annotations

import signal
import threading

from earthmover.train.run_files import MeasuresStopped


def install_stop_handlers(stop: threading.Event, measuring: threading.Event | None = None) -> dict | None:
    """Handlers that set `stop` on SIGINT and SIGTERM (main thread only); returns the previous ones.
    While ``measuring`` is set (the final measures of a run whose checkpoint is written), a signal also
    raises :class:`MeasuresStopped`, so the run ends with its summary and exit status 3 (issue 26)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {}

    def handler(signum, frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, the last checkpoint stays
        stop.set()
        if measuring is not None and measuring.is_set():
            measuring.clear()
            raise MeasuresStopped

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def restore_handlers(previous: dict | None) -> None:
    """Put back the handlers :func:`install_stop_handlers` replaced."""
    for sig, old in (previous or {}).items():
        signal.signal(sig, old)
