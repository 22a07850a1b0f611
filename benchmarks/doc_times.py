"""How long the pages' training lines take at full scale on this machine (issue 23: each command on the site
says what it prints and how long it takes).

Every ``earthmover train`` and ``torchrun ... earthmover train`` line of README.md and docs/ (read from the pages
as tests/test_docs_commands.py reads them; ``--resume``, ``--config``, tracker and two-machine lines are left
out: they take as long as the run they repeat) runs as written, with the real MNIST file and the real Inception
network, in a fresh folder holding what the page assumes (the same GIVEN as the test, but a folder of
``--folder-size`` images). Each line first runs ``--probe`` steps (``--steps`` appended after the page's words):

* if that is the line's whole run, or the probe says the whole run takes under ``--full-below`` seconds, the
  whole run is timed as written: the figure is measured;
* otherwise the figure is extrapolated: the probe's wall time, less its training time (start-up, data, the
  final evaluation: what does not grow with the steps), plus the line's steps at the rate the run logged over
  its last half (``steps_per_second``, which counts the snapshots and checkpoints in between).

    EARTHMOVER_MNIST=../shared/data/mnist.npz python benchmarks/doc_times.py --json doc_times.jsonl
    python benchmarks/doc_times.py --only conditional --probe 60      # one page's lines
    python benchmarks/doc_times.py --skip own-images --skip conditional  # the rest

Each record is printed as a JSON line; the table at the end is the one benchmarks/RESULTS.md quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from earthmover import cli
from earthmover.arguments import int_at_least, positive_float
from earthmover.train.command import build_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_docs_commands import (  # noqa: E402
    FIXTURE,
    GIVEN,
    image_folder,
    mnist_images,
    name,
    pages,
    shell_commands,
    split_env,
    subcommand,
)

SKIP = ("--resume", "--config", "--run.log", "--nnodes")  # as long as the run they repeat, or two machines


def train_lines(only: str | None, skip: list[str]) -> list[tuple[str, str]]:
    """(page, command) for every full-scale training line of the pages, in page order, each once."""
    seen, lines = set(), []
    for page in pages():
        for command in shell_commands(page):
            words = split_env(command)[1]
            if "earthmover" not in words or subcommand(words) != "train" or any(s in command for s in SKIP):
                continue
            where = name(page) + " " + command
            if command in seen or (only and only not in where) or any(text in where for text in skip):
                continue
            seen.add(command)
            lines.append((name(page), command))
    return lines


def full_steps(command: str) -> int:
    """The run's step count as the line sets it (preset, flags), read with the CLI's own parser."""
    words = split_env(command)[1]
    argv = words[words.index("earthmover") + 1 :]
    if "--plugins" in argv:  # the page's modules, saved from docs/snippets as the page says
        sys.path.insert(0, str(ROOT / "docs" / "snippets"))
        cli._preload_plugins(argv)
    argv = argv[argv.index("train") :]
    return build_config(cli.build_parser().parse_args(argv)).run.steps


def timed(command: str, steps: int | None, out: str, workdir: Path) -> tuple[float, list[dict], str]:
    """Run the line (with ``--steps steps`` after its words, unless None) in ``workdir``: wall seconds, the
    run's logged records, and the summary line."""
    extra = ["--steps", str(steps), "--run.log-every", str(max(2, steps // 8))] if steps else []  # a probe: a rate
    extra += ["--out", out]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir), os.environ.get("PYTHONPATH", "")])}
    env["WANDB_MODE"] = "offline"
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["bash", "-c", f"{command} {shlex.join(extra)}"], cwd=workdir, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{command}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    records = [json.loads(line) for line in (workdir / out / "metrics.jsonl").read_text().splitlines()]
    summary = [line for line in proc.stdout.splitlines() if line.startswith("step ")]
    return wall, records, summary[-1] if summary else ""


def training_rate(records: list[dict]) -> tuple[float, float]:
    """(seconds of training the log accounts for, steps per second over its last half)."""
    ticks = [(r["step"], r["steps_per_second"]) for r in records if "steps_per_second" in r]
    intervals = [(step - prev, (step - prev) / rate) for (step, rate), prev in zip(ticks, [0] + [s for s, _ in ticks])]
    late = intervals[len(intervals) // 2 :]
    return sum(s for _, s in intervals), sum(n for n, _ in late) / sum(s for _, s in late)


def one_line(page: str, command: str, args) -> dict:
    steps = full_steps(command)
    with tempfile.TemporaryDirectory(prefix="earthmover-doc-times-") as folder:
        workdir = Path(folder)
        cwd = Path.cwd()
        os.chdir(workdir)
        try:  # what the page assumes its reader has (a folder of images, the plug-in modules)
            if "own-images" in page:
                image_folder(Path("my_faces"), n=args.folder_size)
            elif page in GIVEN and "plugins" in page:
                GIVEN[page]()
        finally:
            os.chdir(cwd)
        probe = min(args.probe, steps)
        wall, records, summary = timed(command, probe if probe < steps else None, "runs/probe", workdir)
        trained, rate = training_rate(records)
        estimate = wall - trained + steps / rate if probe < steps else wall
        record = {"page": page, "command": command, "steps": steps, "probe_steps": probe, "probe_seconds": wall}
        record |= {"steps_per_second": round(rate, 2), "fixed_seconds": round(wall - trained, 1)}
        if probe < steps and estimate < args.full_below:
            wall, records, summary = timed(command, None, "runs/full", workdir)
            record |= {"seconds": round(wall, 1), "how": "measured"}
        elif probe < steps:
            record |= {"seconds": round(estimate, 1), "how": "extrapolated"}
        else:
            record |= {"seconds": round(wall, 1), "how": "measured"}
        record["summary"] = summary
    return record


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="lines whose page or command contains this text")
    parser.add_argument("--skip", action="append", default=[], help="leave out lines containing this (repeatable)")
    parser.add_argument("--probe", type=int_at_least(1), default=150, help="steps of the first run (default 150)")
    parser.add_argument(
        "--full-below",
        type=positive_float(300),
        default=300.0,
        help="time the whole run when the probe says it takes under this many seconds (default 300)",
    )
    parser.add_argument("--folder-size", type=int_at_least(1), default=500, help="images in my_faces (default 500)")
    parser.add_argument("--json", help="append every record to this file as it comes")
    parser.add_argument("--list", action="store_true", help="print the lines and their steps, run nothing")
    args = parser.parse_args(argv)
    available = len(mnist_images(10**9))
    if args.folder_size > available:  # the folder is cut from the fixture: more would silently be fewer
        parser.error(
            f"argument --folder-size: {args.folder_size} is more than the {available} digits of {FIXTURE.name}"
        )
    if "EARTHMOVER_MNIST" not in os.environ:
        parser.error("set EARTHMOVER_MNIST to the MNIST .npz (e.g. ../shared/data/mnist.npz): the pages train on it")
    lines = train_lines(args.only, args.skip)
    if args.list:
        for page, command in lines:
            print(f"{full_steps(command):>6}  {page}  {command}")
        return 0
    records = []
    for page, command in lines:
        record = one_line(page, command, args)
        print(json.dumps(record), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(record) + "\n")
        records.append(record)
    print("\n| page | line | steps | on 2 cores | how |\n|---|---|---|---|---|")
    for r in records:
        print(f"| {r['page']} | `{r['command']}` | {r['steps']} | {minutes(r['seconds'])} | {r['how']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
