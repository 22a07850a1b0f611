"""Checkpoints: atomic writes, safe loads, the last K kept (sampling a trained generator: train/sampler.py).

A checkpoint is a plain dict of tensors, numbers and strings, written with
``torch.save`` to a temporary file, flushed, fsynced and renamed into place, so
a process killed at any moment leaves the previous checkpoint intact. It is read
with ``torch.load(weights_only=True)``: a file crafted to run code when
unpickled is refused.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path

import torch

from earthmover.errors import EarthmoverError
from earthmover.odd_paths import refuse_special
from earthmover.train.lock import process_alive
from earthmover.train.run_files import check_checkpoint, checkpoint_write_failed

CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:07d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoints of a run, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(state: dict, path: str | Path, keep: int | None = None) -> Path:
    """Write `state` atomically to `path`; then delete all but the newest `keep` checkpoints beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(".step_*.pt.tmp-*"):  # left by a process killed while writing
        pid = stale.name.rpartition("-")[2]
        if pid != str(os.getpid()) and not (pid.isdigit() and process_alive(int(pid))):  # never another's
            stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        fault = checkpoint_write_failed(path.parent, exc)  # no space / not writable: one line (issue 26)
        if fault is not None:
            raise fault from None
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    if keep:
        for old in list_checkpoints(path.parent.parent)[:-keep]:
            old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint safely (weights_only=True); any failure is one clear EarthmoverError."""
    path = Path(path)
    if path.is_dir():
        raise EarthmoverError(f"checkpoint {str(path)!r} is a folder; pass a file from a run's checkpoints/ folder")
    refuse_special(path, "checkpoint")  # a named pipe would block (issue 26)
    if not path.is_file():
        raise EarthmoverError(f"checkpoint {str(path)!r} does not exist; pass a file from a run's checkpoints/ folder")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols before refusing them
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch says the same for a file crafted to run code and for bytes that are no pickle at all
        detail = str(exc).split("WeightsUnpickler error:", 1)[-1].split("Check the documentation", 1)[0]
        detail = " ".join(detail.split())[:120]
        raise EarthmoverError(
            f"checkpoint {str(path)!r} was refused: it is corrupt or holds objects other than tensors and plain "
            "values, "
            f"and nothing in it was run (weights_only loading: {detail}); only load checkpoints earthmover wrote"
        ) from None
    except Exception as exc:  # truncated or corrupt file
        raise EarthmoverError(
            f"checkpoint {str(path)!r} is unreadable ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:120] if str(exc) else ''}); "
            f"it may be truncated or corrupt: resume from an earlier checkpoint in the same folder"
        ) from None
    if not isinstance(state, dict) or "step" not in state:
        raise EarthmoverError(
            f"checkpoint {str(path)!r} is not an earthmover checkpoint (no 'step'); pass a file that train wrote"
        )
    check_checkpoint(state, path)  # types, and finite generator weights (issue 26)
    return state


REJECTED = "rejected"


def reject_checkpoint(path: str | Path) -> Path:
    """Move a checkpoint that was refused (unsafe) or unreadable to checkpoints/rejected/, so it no
    longer counts toward run.keep_checkpoints (the good ones would be rotated out in its place) and
    stays there for inspection; returns its new path."""
    path = Path(path)
    folder = path.parent / REJECTED
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    k = 1
    while target.exists():
        target = folder / f"{path.stem}.{k}{path.suffix}"
        k += 1
    os.replace(path, target)
    return target


def latest_loadable_checkpoint(run_dir: str | Path, skipped: list | None = None) -> tuple[Path, dict]:
    """The newest checkpoint of a run that loads; a corrupt (or refused) newest one falls back to
    the one before. Pass a list as `skipped` to receive the (path, reason) of each one passed over."""
    candidates = list_checkpoints(run_dir)
    if not candidates:
        raise EarthmoverError(
            f"no checkpoint in {str(Path(run_dir) / 'checkpoints')!r}; train the run first or pass the right --resume "
            "DIR"
        )
    errors = []
    for path in reversed(candidates):
        try:
            return path, load_checkpoint(path)
        except EarthmoverError as exc:
            errors.append(str(exc))
            if skipped is not None:
                skipped.append((path, str(exc)))
    raise EarthmoverError(f"no checkpoint of {str(run_dir)!r} is loadable: {errors[0]}")
