"""SIGKILL during checkpoint writes (issue 26): N trials, each kills a training process at a random moment
inside (or just around) a checkpoint write, then checks that nothing was lost.

Per trial: a copy of one tiny trained run is resumed as a real process saving every step; once it is
writing, the script waits for a temporary checkpoint file to appear, sleeps a random 0-10 ms and sends
SIGKILL. Then

* every checkpoint in checkpoints/ loads (``weights_only``), and the newest is past the step it started at;
* every line of metrics.jsonl is a whole JSON object (a line cut by the kill would count as broken);
* ``train --resume`` reaches its step (two past the newest checkpoint) and leaves no temporary file.

Prints one line per trial and the counts. tests/test_train_checkpoints.py's
``test_sigkill_at_random_moments_leaves_a_resumable_run`` is the quick form of the same check (3 kills at
random moments, in the suite); this script is its many-trial benchmark (benchmarks/RESULTS.md records the
counts).

    python benchmarks/kill_during_save.py --trials 10 --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from earthmover import cli
from earthmover.arguments import int_at_least
from earthmover.train import state as ckpt

TINY = [
    "--data", "8gaussians", "--width", "16", "--model.depth", "2", "--batch-size", "32", "--run.threads", "1",
    "--run.measure-n", "64", "--device", "cpu", "--quiet", "--sample-every", "100000",
]  # fmt: skip
LONG = ["--steps", "1000000", "--checkpoint-every", "1", "--log-every", "1", "--keep-checkpoints", "3"]


def newest_step(run: Path) -> int:
    found = ckpt.list_checkpoints(run)
    return int(found[-1].stem.split("_")[1]) if found else -1


def temporary_files(run: Path) -> list[Path]:
    return list((run / "checkpoints").glob(".*.tmp-*"))


def trial(base: Path, work: Path, rng: random.Random) -> dict:
    """One kill and its checks; the figures of the trial."""
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(base, run)
    started = newest_step(run)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "earthmover", "train", "--resume", str(run), *LONG, *TINY],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while newest_step(run) <= started + rng.randint(1, 4):  # a few saves of its own first
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the training process ended or stalled: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.005)
        while not temporary_files(run):  # now inside a write
            if time.monotonic() > deadline:
                raise RuntimeError("no checkpoint write seen")
            time.sleep(0.0005)
        time.sleep(rng.uniform(0.0, 0.01))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    inside = bool(temporary_files(run))  # the kill left a half-written temporary file
    loaded = [ckpt.load_checkpoint(path)["step"] for path in ckpt.list_checkpoints(run)]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    whole = sum(isinstance(json.loads(line), dict) for line in lines if line.strip())
    reached = max(loaded)
    target = reached + 2
    assert cli.main(["train", "--resume", str(run), "--steps", str(target), *TINY]) == 0
    resumed = ckpt.latest_loadable_checkpoint(run)[1]["step"]
    return {
        "inside_write": inside,
        "checkpoints_loaded": len(loaded),
        "newest_past_start": reached > started,
        "metrics_lines": len([line for line in lines if line.strip()]),
        "metrics_whole": whole,
        "resume_reached": resumed == target,
        "temporary_left_after_resume": len(temporary_files(run)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int_at_least(1, 10), default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = tmp / "base"
        assert cli.main(["train", "--out", str(base), "--steps", "2", "--checkpoint-every", "1", *TINY]) == 0
        results = []
        for i in range(args.trials):
            r = trial(base, tmp / f"trial{i}", rng)
            results.append(r)
            print(f"trial {i}: " + ", ".join(f"{k} {v}" for k, v in r.items()), flush=True)
    ok = [
        r["newest_past_start"]
        and r["metrics_whole"] == r["metrics_lines"]
        and r["resume_reached"]
        and not r["temporary_left_after_resume"]
        for r in results
    ]
    print(
        f"{len(results)} trials: {sum(r['inside_write'] for r in results)} kills left a half-written temporary file; "
        f"{sum(r['checkpoints_loaded'] for r in results)} checkpoints, all loaded; "
        f"{sum(r['metrics_whole'] for r in results)}/{sum(r['metrics_lines'] for r in results)} metrics lines whole; "
        f"{sum(r['resume_reached'] for r in results)}/{len(results)} resumes reached their step; "
        f"{sum(ok)}/{len(results)} trials lost nothing"
    )
    return 0 if all(ok) else 1


if __name__ == "__main__":
    raise SystemExit(main())
