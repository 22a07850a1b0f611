"""What a run directory's files may hold, checked before anything is built from them (issue 26).

A run directory is something people download, share and unpack, and edit by hand: its
checkpoints and metrics.jsonl are read as hostile input. The readers call these checks, so a
checkpoint with a missing key, a value of the wrong type or NaN generator weights ends in one line
naming the file and the key, not a KeyError in the middle of a resume or a picture of NaNs; and a
checkpoint that cannot be written (no space left, a folder that is not writable) ends in one line
naming the folder, the cause, the last good checkpoint and the command to resume, with exit
status 4 (:class:`WriteFault`).
"""

from __future__ import annotations

import errno
import math
from pathlib import Path
from typing import Any

import torch

from earthmover.errors import EarthmoverError

__all__ = [
    "MeasuresStopped",
    "WriteFault",
    "check_checkpoint",
    "check_resumable",
    "metric_record",
    "checkpoint_write_failed",
]

# What train --resume reads from a checkpoint besides the networks' weights.
RESUME_KEYS = (
    "critic_iterations", "critic", "opt_g", "opt_d", "sched_g", "sched_d", "scaler_g", "scaler_d", "data", "rng",
)  # fmt: skip


class MeasuresStopped(Exception):
    """Raised by the signal handler into a run's final measures (its last checkpoint is written)."""


class WriteFault(EarthmoverError):
    """A file could not be written (no space left, not writable): exit status 4."""

    exit_status = 4


def _refuse(path, key: str, what: str) -> EarthmoverError:
    where = f"checkpoint {str(path)!r}" if isinstance(path, Path) or "/" in str(path) else str(path)
    return EarthmoverError(
        f"{where}: {key!r} {what}; earthmover did not write it so: pass another checkpoint of the run "
        f"(its checkpoints/ folder)"
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_checkpoint(state: dict, path) -> None:
    """The types of what a checkpoint holds, and finite generator weights (what sample draws from)."""
    if not _is_int(state.get("step")) or state["step"] < 0:
        raise _refuse(path, "step", f"must be a whole number of steps, got {state.get('step')!r}")
    for key in ("critic_iterations", "num_classes"):
        if key in state and (not _is_int(state[key]) or state[key] < 0):
            raise _refuse(path, key, f"must be a whole number >= 0, got {state[key]!r}")
    if "lr_scale" in state and not (isinstance(state["lr_scale"], (int, float)) and math.isfinite(state["lr_scale"])):
        raise _refuse(path, "lr_scale", f"must be a finite number, got {state['lr_scale']!r}")
    shape = state.get("sample_shape")
    if shape is not None and not (isinstance(shape, (list, tuple)) and all(_is_int(s) and s > 0 for s in shape)):
        raise _refuse(path, "sample_shape", f"must be a list of positive sizes, got {shape!r}")
    for key in ("generator", "critic", "ema"):
        weights = state.get(key)
        if weights is None:  # a reader that needs it says so (check_resumable, load_sampler)
            continue
        if not isinstance(weights, dict):
            raise _refuse(path, key, f"must be a table of weights, got {type(weights).__name__}")
        if key == "critic":
            continue
        for name, value in weights.items():
            if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise _refuse(path, f"{key}.{name}", "holds NaN or infinite weights (the run diverged before it)")


def check_resumable(state: dict, path="the checkpoint to resume from") -> None:
    """What train --resume needs beyond what sample does (call before restoring any state)."""
    missing = [k for k in RESUME_KEYS if k not in state]
    if missing:
        raise _refuse(path, missing[0], f"is missing ({', '.join(missing)} are needed to resume)")
    if not isinstance(state["rng"], dict):
        raise _refuse(path, "rng", f"must be a table, got {type(state['rng']).__name__}")


def metric_record(line: str) -> dict | None:
    """One metrics.jsonl line as a record, or None when it is not one (a partial last line, an edit
    by hand: not an object, or a step that is not a whole number)."""
    import json

    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not _is_int(record.get("step", 0)):
        return None
    return record


NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def checkpoint_write_failed(folder: Path, exc: BaseException) -> WriteFault | None:
    """The one-line error for a checkpoint that could not be written into ``folder``, or None when
    ``exc`` is not a write fault. The caller adds the last good checkpoint."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError) and exc.errno in NO_SPACE:
        cause = f"no space left ({exc.strerror})"
    elif isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        cause = f"the folder is not writable ({exc.strerror})"
    elif isinstance(exc, RuntimeError) and ("unexpected pos" in text or "PytorchStreamWriter" in text):
        cause = "no space left (the write stopped short)"  # torch's zip writer on a full device
    else:
        return None
    run_dir = folder.parent
    return WriteFault(
        f"cannot write a checkpoint into {folder}: {cause}; free space (or make it writable), "
        f"then continue with: earthmover train --resume {run_dir}"
    )
