"""What a run tells its user: a progress bar, metrics.jsonl, and the trackers of ``--run.log`` (train/trackers.py)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from earthmover.train.run_files import metric_record
from earthmover.train.trackers import open_loggers


class RunLogger:
    """Writes every logged scalar to metrics.jsonl (one JSON object per line with a `step` field)
    and to each tracker named by ``log`` (TensorBoard by default; W&B, MLflow); keeps the progress bar.
    Only rank 0 makes one. ``config`` (the resolved config as nested tables) becomes the trackers'
    hyperparameters."""

    def __init__(
        self,
        run_dir: Path,
        total_steps: int,
        start_step: int,
        quiet: bool = False,
        tensorboard: bool = True,
        log: str = "tensorboard",
        config: dict[str, Any] | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.metrics_path = self.run_dir / "metrics.jsonl"
        _truncate_after(self.metrics_path, start_step)
        self.metrics_file = open(self.metrics_path, "a")
        names = [n for n in log.split(",") if tensorboard or n.strip() != "tensorboard"]
        self.trackers = open_loggers(",".join(names), self.run_dir, start_step, config)
        self.bar = None
        if not quiet:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True, smoothing=0.1)

    def rewind(self, step: int) -> None:
        """After a rollback to the checkpoint of `step`: drop what was logged after it, so each
        step appears once in metrics.jsonl and TensorBoard."""
        self.metrics_file.close()
        _truncate_after(self.metrics_path, step)
        self.metrics_file = open(self.metrics_path, "a")
        for tracker in self.trackers:
            tracker.rewind(step)
        if self.bar:
            self.bar.n = step
            self.bar.refresh()

    def log(self, step: int, values: dict[str, float]) -> None:
        record = {"step": step, **{k: _finite_or_str(v) for k, v in values.items()}}
        self.metrics_file.write(json.dumps(record) + "\n")
        self.metrics_file.flush()
        for tracker in self.trackers:
            tracker.log_scalars(step, values)

    def image(self, tag: str, image_chw, step: int) -> None:
        for tracker in self.trackers:
            tracker.log_image(tag, image_chw, step)

    def advance(self, n: int, postfix: dict[str, str] | None = None) -> None:
        if self.bar:
            self.bar.update(n)
            if postfix:
                self.bar.set_postfix(postfix, refresh=False)

    def postfix(self, values: dict[str, str]) -> None:
        """The values shown beside the bar (set on logging steps, from values already read)."""
        if self.bar:
            self.bar.set_postfix(values, refresh=False)

    def write(self, message: str) -> None:
        if self.bar:
            self.bar.write(message)
        else:
            print(message)

    def close_progress(self) -> None:
        if self.bar:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self.close_progress()
        self.metrics_file.close()
        for tracker in self.trackers:
            tracker.close()
        self.trackers = []


def _finite_or_str(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf
    return value


def _truncate_after(path: Path, step: int) -> None:
    """On resume, drop lines logged after the checkpoint the run continues from, and the final/*
    record of the session that ended there (the run goes on: its final values come at its end).
    The file is replaced atomically, so a kill at any moment leaves the old or the new one whole."""
    if not path.exists():
        return
    text = path.read_bytes().decode("utf-8", errors="replace")
    keep = []
    for line in text.splitlines():
        record = metric_record(line)
        if record is None:
            continue  # a line cut by a kill, or not a record (edited by hand)
        if record.get("step", 0) > step:
            continue
        if any(k.startswith("final/") for k in record) and all(k == "step" or k.startswith("final/") for k in record):
            continue
        keep.append(line)
    new = "".join(f"{line}\n" for line in keep)
    if new != text:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(new)
        os.replace(tmp, path)


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    records = (metric_record(line) for line in path.read_bytes().decode("utf-8", errors="replace").splitlines())
    return [r for r in records if r is not None]  # a partial last line or a hand-edited one is skipped
