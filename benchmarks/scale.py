"""Issue 12's scale table: seconds per generator step against batch size and image size on this
machine, and a 2-process torchrun run's throughput against one process.

* ``batch``: WGAN-GP on the 25-gaussian grid with the quickstart's networks (4x128 MLPs, n_critic 5),
  batch 64 to 1,024, with torch's default threads and with one thread; milliseconds per generator step and
  thousands of samples per second.
* ``images``: WGAN-GP with the ``dcgan`` networks on the MNIST fixture resized to 28, 32 and 64 pixels,
  batch 64 and 256; milliseconds per generator step (5 critic steps and one generator step).
* ``resnet``: the WGAN-GP CIFAR ResNet at batch 64 on 3x32x32 images: seconds per generator step.
* ``torchrun``: the quickstart run for ``--torchrun-steps`` steps as one process (torch's default threads),
  as one process with one thread, and under ``torchrun --nproc_per_node=2`` (one thread each, gloo);
  generator steps per second of the training loop (summary.json's seconds).

Each time is the median over ``--steps`` timed steps after one warm-up step.

    PYTHONPATH=src python3 benchmarks/scale.py                 # all three tables
    PYTHONPATH=src python3 benchmarks/scale.py --only batch --steps 5
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from throughput import median_ms  # benchmarks/throughput.py: median of timed calls (GPU-synchronized)

from earthmover.arguments import int_at_least
from earthmover.errors import EarthmoverError
from earthmover.paths import output_file
from earthmover.train.config import Config
from earthmover.train.loop import Trainer

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "data" / "mnist_small.npz"


def ms_per_step(config: Config, steps: int) -> float:
    threads = torch.get_num_threads()
    try:
        trainer = Trainer(config, None, quiet=True)
        trainer.train_step()  # warm-up
        return median_ms(trainer.train_step, steps, trainer.device)
    finally:
        torch.set_num_threads(threads)


def batch_table(steps: int) -> list[dict]:
    rows = []
    for batch in (64, 128, 256, 512, 1024):
        row = {"batch": batch}
        for label, threads in (("default", 0), ("one", 1)):
            config = Config.from_preset("quickstart", data__batch_size=batch, run__device="cpu", run__threads=threads)
            row[label] = ms_per_step(config, steps)
        row["ksamples_per_s"] = batch / row["default"]
        print(
            f"batch {batch:5d}: {row['default']:8.1f} ms/step ({torch.get_num_threads()} threads), {row['one']:8.1f} "
            f"with one thread; {row['ksamples_per_s']:.1f}k samples/s",
            flush=True,
        )
        rows.append(row)
    return rows


def image_table(steps: int) -> list[dict]:
    os.environ.setdefault("EARTHMOVER_MNIST", str(FIXTURE))
    rows = []
    for size in (28, 32, 64):
        for batch in (64, 256):
            config = Config.from_preset(
                "wgan-gp",
                data__name="mnist",
                model__arch="dcgan",
                data__image_size=size,
                data__batch_size=batch,
                run__device="cpu",
            )
            ms = ms_per_step(config, steps)
            rows.append({"size": size, "batch": batch, "ms": ms, "images_per_s": batch / ms * 1000})
            print(
                f"{size}x{size}, batch {batch:4d}: {ms:9.1f} ms per generator step, "
                f"{batch / ms * 1000:7.1f} images/s through the generator step",
                flush=True,
            )
    return rows


def resnet_table(steps: int) -> list[dict]:
    """The WGAN-GP CIFAR ResNet (``--arch resnet``) at batch 64 on 512 random 3x32x32 images (CIFAR-10's
    shape; the images' content does not change the time of a step)."""
    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random_cifar_shape.npz"
        np.savez(path, x_train=np.random.default_rng(0).integers(0, 256, (512, 32, 32, 3), dtype=np.uint8))
        config = Config.from_preset(
            "wgan-gp", data__name=str(path), model__arch="resnet", data__batch_size=64, run__device="cpu"
        )
        ms = ms_per_step(config, steps)
    print(
        f"resnet, 32x32x3, batch 64: {ms / 1000:.1f} s per generator step (5 critic steps and one generator step), "
        f"{ms / 64:.1f} s per 1,000 images of generator steps (each with its 5 critic steps)",
        flush=True,
    )
    return [{"arch": "resnet", "batch": 64, "ms": ms}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_table(steps: int) -> list[dict]:
    train = [
        "-m",
        "earthmover",
        "train",
        "--steps",
        str(steps),
        "--device",
        "cpu",
        "--quiet",
        "--run.sample-every",
        str(10 * steps),
        "--run.checkpoint-every",
        str(10 * steps),
        "--run.measure-n",
        "64",
    ]
    ways = {
        "1 process, torch's default threads": ([sys.executable, *train], {}),
        "1 process, 1 thread": ([sys.executable, *train, "--run.threads", "1"], {"OMP_NUM_THREADS": "1"}),
        "torchrun, 2 processes x 1 thread": (
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nproc_per_node=2",
                "--nnodes=1",
                "--master_addr=127.0.0.1",
                f"--master_port={_free_port()}",
                *train,
                "--run.threads",
                "1",
            ],
            {"OMP_NUM_THREADS": "1"},
        ),
    }
    rows = []
    for name, (command, env) in ways.items():
        with tempfile.TemporaryDirectory() as out:
            result = subprocess.run(
                [*command, "--out", out], capture_output=True, text=True, env={**os.environ, **env}, timeout=3600
            )
            if result.returncode:
                raise SystemExit(f"{name} failed:\n{result.stderr[-3000:]}")
            seconds = json.loads((Path(out) / "summary.json").read_text())["seconds"]
        rows.append({"way": name, "seconds": seconds, "steps_per_s": steps / seconds})
        print(f"{name:40s} {steps} steps in {seconds:6.1f} s: {steps / seconds:6.1f} generator steps/s", flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("batch", "images", "torchrun", "resnet"))
    p.add_argument("--steps", type=int_at_least(1, 20), default=20, help="timed steps per cell (median; default 20)")
    p.add_argument("--torchrun-steps", type=int_at_least(1, 500), default=500)
    p.add_argument("--json", help="also write the tables here")
    args = p.parse_args()
    if args.json:  # checked before the minutes of timing, not after
        try:
            output_file(args.json, "--json", example="scale.json")
        except EarthmoverError as exc:
            p.error(str(exc))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    tables = {}
    if args.only in (None, "batch"):
        tables["batch"] = batch_table(args.steps)
    if args.only in (None, "images"):
        tables["images"] = image_table(args.steps)
    if args.only in (None, "resnet"):
        tables["resnet"] = resnet_table(max(1, min(args.steps, 2)))
    if args.only in (None, "torchrun"):
        tables["torchrun"] = torchrun_table(args.torchrun_steps)
    if args.json:
        Path(args.json).write_text(json.dumps(tables, indent=1))


if __name__ == "__main__":
    main()
