"""Issue 25: the GPU run, prepared. On a lent GPU, `benchmarks/gpu.sh` writes one JSON within 8 minutes:

* throughput (generator steps per second; peak memory) in float32, bf16 and fp16 (GradScaler), with and
  without channels_last and torch.compile (``nn.Module.compile`` of both networks; a cell that fails,
  e.g. AOTAutograd refusing the penalty's double backward, records its one-line error), for gp-mnist,
  dcgan and resnet (benchmarks/precision.py's configurations);
* 500 WGAN-GP steps (gp-mnist) under fp16 autocast with the GradScaler and under bf16: the count of
  non-finite values (the trainer's guard stops a run at the first; the scaler's skipped steps are counted);
* seconds per 1,000 CIFAR-shaped 32x32 images with resnet (synthetic data: the machine has no network),
  float32 and bf16, real images consumed = batch x n_critic per generator step.

Cells run in order of importance and stop when the time budget (default 420 s) is spent; the JSON says
which were skipped. ``--dry-run`` builds every configuration on the CPU and resolves every precision for
CUDA, without timing anything: tests/test_benchmark_gpu.py runs it.

    sh benchmarks/gpu.sh                 # writes gpu.json
    sh benchmarks/gpu.sh --dry-run --out /tmp/plan.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from precision import CONFIGS, make_trainer  # noqa: E402

from earthmover.train.device import resolve_amp  # noqa: E402

AMPS = ("none", "bf16", "fp16")
CELLS = [
    (name, amp, cl, comp)
    for comp, cl in ((False, False), (False, True), (True, False), (True, True))
    for name, amp in itertools.product(CONFIGS, AMPS)
]


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _build(name, amp, channels_last, compiled, device):
    trainer = make_trainer(name, amp, channels_last, device=device)
    if compiled:
        for net in (trainer.generator, trainer.critic):
            net.compile()
    return trainer


def throughput(name, amp, cl, comp, seconds: float) -> dict:
    torch.cuda.reset_peak_memory_stats()
    trainer = _build(name, amp, cl, comp, "cuda")
    for _ in range(3):  # warm up (and compile)
        trainer.train_step()
    _sync()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 5:
        trainer.train_step()
        steps += 1
    _sync()
    elapsed = time.perf_counter() - start
    batch, n_critic = trainer.batch_size, trainer.config.optim.n_critic
    return {
        "steps_per_s": steps / elapsed,
        "s_per_1000_images": elapsed / (steps * batch * n_critic) * 1000,
        "peak_mib": torch.cuda.max_memory_allocated() / 2**20,
    }


def stability(amp: str, steps: int = 500) -> dict:
    trainer = _build("gp-mnist", amp, False, False, "cuda")
    non_finite, skipped = 0, 0
    for _ in range(steps):
        scale = trainer.scaler_d.get_scale() if trainer.scaler_d.is_enabled() else None
        values = trainer.train_step()
        non_finite += sum(int(not torch.isfinite(v).all()) for v in values.values())
        if scale is not None and trainer.scaler_d.get_scale() < scale:
            skipped += 1
    return {"steps": steps, "non_finite_values": non_finite, "scaler_backoffs": skipped}


def dry_run() -> dict:
    """Every configuration builds (on the CPU, float32) and every precision resolves for CUDA."""
    built = {name: type(make_trainer(name, "none", True, device="cpu").critic).__name__ for name in CONFIGS}
    amps = {amp: str(resolve_amp(amp, torch.device("cuda"))) for amp in AMPS}
    assert hasattr(torch.nn.Module, "compile") and hasattr(torch.amp, "GradScaler")
    return {"dry_run": True, "built": built, "amps": amps, "cells": [list(c) for c in CELLS]}


def _guarded(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:  # a cell that fails is a result (compile and double backward, fp16 overflow)
        text = str(exc).strip().splitlines()
        return {"error": f"{type(exc).__name__}: {text[0][:300] if text else ''}"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="gpu.json")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--budget", type=float, default=420.0, help="seconds for all cells (default 420)")
    p.add_argument("--seconds", type=float, default=3.0, help="timed seconds per throughput cell")
    args = p.parse_args(argv)
    if args.dry_run:
        result = dry_run()
    else:
        if not torch.cuda.is_available():
            print("no CUDA device: run with --dry-run on a CPU")
            return 2
        start = time.perf_counter()
        result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "budget_s": args.budget}
        jobs = [("stability/" + amp, stability, (amp,)) for amp in ("fp16", "bf16")]
        jobs += [("/".join(map(str, c)), throughput, (*c, args.seconds)) for c in CELLS]
        for key, fn, fargs in jobs:
            if time.perf_counter() - start > args.budget:
                result[key] = {"skipped": "time budget"}
                continue
            result[key] = _guarded(fn, *fargs)
            print(key, json.dumps(result[key]), flush=True)
            Path(args.out).write_text(json.dumps(result, indent=2, default=_nan) + "\n")  # partial results survive
        result["elapsed_s"] = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(result, indent=2, default=_nan) + "\n")
    print(f"wrote {args.out}")
    return 0


def _nan(value):
    return None if isinstance(value, float) and math.isnan(value) else str(value)


if __name__ == "__main__":
    sys.exit(main())
