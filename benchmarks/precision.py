"""Issue 25: float32 against bf16 autocast (and channels_last) for the trainer, side by side in one run.

Each configuration builds one trainer per variant (same seed, same networks) and times one
generator step (n_critic critic steps and a generator step) of each in turn, round after round
(A B C A B C ...), so load on a shared machine hits every variant alike: read the ratios, not the
absolute times. The achieved GFLOP/s is the float32 step's operation count (torch.utils.flop_counter,
double backward included) over each variant's median seconds, beside a matrix-product peak
(512^3, best of several) measured in the same run in float32 and bfloat16.

    OMP_NUM_THREADS=1 PYTHONPATH=src python3 benchmarks/precision.py --config all --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from earthmover.train.config import Config
from earthmover.train.device import cpu_has_native_bf16
from earthmover.train.loop import Trainer

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "data" / "mnist_small.npz"

CONFIGS: dict[str, tuple[str, dict, str]] = {
    "gp-mnist": (
        "wgan-gp",
        dict(data__name="mnist", model__arch="wgan-gp-mnist", data__batch_size=50, optim__n_critic=5),
        "WGAN-GP, MNIST fixture, wgan-gp-mnist nets, batch 50, lambda 10, n_critic 5",
    ),
    "dcgan": (
        "wgan-gp",
        dict(data__name="mnist", model__arch="dcgan", data__batch_size=64, optim__n_critic=5),
        "WGAN-GP, MNIST fixture, dcgan nets, batch 64, n_critic 5",
    ),
    "resnet": (
        "wgan-gp",
        dict(data__name="cifar-shaped", model__arch="resnet", data__batch_size=64, optim__n_critic=5),
        "WGAN-GP, synthetic 32x32x3 images, resnet nets, batch 64, n_critic 5",
    ),
}
VARIANTS = {
    "float32": ("none", False),
    "bf16": ("bf16", False),
    "bf16+cl": ("bf16", True),
    "float32+cl": ("none", True),
}


def synthetic_cifar(n: int = 512) -> str:
    """A CIFAR-shaped .npy of random uint8 images (N, 32, 32, 3): speed does not depend on content."""
    path = Path(tempfile.gettempdir()) / f"earthmover_cifar_shaped_{n}.npy"
    if not path.exists():
        np.save(path, np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8))
    return str(path)


def make_trainer(name: str, amp: str, channels_last: bool, device: str = "cpu", **extra) -> Trainer:
    os.environ.setdefault("EARTHMOVER_MNIST", str(FIXTURE))
    preset, values, _ = CONFIGS[name]
    if values.get("data__name") == "cifar-shaped":
        values = {**values, "data__name": synthetic_cifar()}
    config = Config.from_preset(
        preset, run__device=device, run__amp=amp, run__eval_metrics="none", run__measure_n=64, **{**values, **extra}
    )
    trainer = Trainer(config, None, quiet=True, write_files=False)
    if channels_last:
        for net in (trainer.generator, trainer.critic):
            net.to(memory_format=torch.channels_last)
    return trainer


def matmul_peak(dtype: torch.dtype, n: int = 512, reps: int = 20) -> float:
    """GFLOP/s of the best of `reps` n^3 matrix products in `dtype`."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def step_flops(name: str) -> float:
    """Operations of one float32 generator step with the penalty switched off: FlopCounterMode cannot
    follow autograd.grad (torch 2.13: "A leaf node was passed to _will_engine_execute_node"), so the
    count leaves out the penalty's forward and double backward and the GFLOP/s column is a lower bound."""
    trainer = make_trainer(name, "none", False, penalty__gp=0.0, constraint__clip=0.01)  # clip: cheap, Lipschitz
    with FlopCounterMode(display=False) as counter:
        trainer.train_step()
    return float(counter.get_total_flops())


def run(name: str, rounds: int, variants: list[str]) -> dict:
    trainers = {v: make_trainer(name, *VARIANTS[v]) for v in variants}
    flops = step_flops(name)
    for t in trainers.values():
        t.train_step()  # warm up
    seconds = {v: [] for v in variants}
    for _ in range(rounds):
        for v, t in trainers.items():
            start = time.perf_counter()
            t.train_step()
            seconds[v].append(time.perf_counter() - start)
    base = variants[0]
    return {
        "config": name,
        "what": CONFIGS[name][2],
        "gflop_per_step": flops / 1e9,
        "median_s": {v: statistics.median(s) for v, s in seconds.items()},
        "speedup_vs_" + base: {
            v: statistics.median(a / b for a, b in zip(seconds[base], s)) for v, s in seconds.items()
        },
        "gflops": {v: flops / statistics.median(s) / 1e9 for v, s in seconds.items()},
        "seconds": {v: [round(x, 4) for x in s] for v, s in seconds.items()},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="all", choices=["all", *CONFIGS])
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of one generator step each")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--variants", default="float32,bf16,bf16+cl", help=f"comma list of {', '.join(VARIANTS)}")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not cpu_has_native_bf16():
        print("this CPU has no native bfloat16 (AVX512-BF16 or AMX): nothing to compare")
        return 0
    variants = args.variants.split(",")
    peaks = {"float32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {args.rounds} interleaved rounds")
    print(f"matmul peak 512^3 GFLOP/s: float32 {peaks['float32']:.0f}  bf16 {peaks['bf16']:.0f}")
    results = {"matmul_peak_gflops": peaks, "configs": []}
    names = list(CONFIGS) if args.config == "all" else [args.config]
    for name in names:
        r = run(name, args.rounds, variants)
        results["configs"].append(r)
        print(
            f"\n{name}: {r['what']}  (>= {r['gflop_per_step']:.1f} GFLOP/step, penalty not counted)"
        )
        for v in variants:
            print(
                f"  {v:<11} {r['median_s'][v] * 1e3:8.0f} ms/step  x{r['speedup_vs_' + variants[0]][v]:.2f}  "
                f"{r['gflops'][v]:6.0f} GFLOP/s"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
