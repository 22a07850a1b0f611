"""Issue 10: does a minibatch layer reduce mode collapse? The non-saturating GAN (the dcgan preset's
objective and optimizer) on the 25-gaussian grid, with and without a minibatch layer in the critic,
over several seeds: modes covered (of 25), the high-quality share (samples within 3 standard
deviations of a mode) and the exact EMD to data, per seed and as mean and spread.

    python benchmarks/minibatch.py                        # seeds 0-4, 2000 steps each, three critics
    python benchmarks/minibatch.py --seeds 0 --steps 200  # a quick check

Reports what the runs show; the claim from the papers is that the layer reduces collapse.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from earthmover.train.config import Config, validate
from earthmover.train.loop import Trainer

LAYERS = ("none", "discrimination", "stddev")


def run(layer: str, seed: int, steps: int, batch: int) -> dict:
    config = Config.from_preset(
        "dcgan",
        data__name="25gaussians",
        model__minibatch=layer,
        run__steps=steps,
        run__seed=seed,
        data__batch_size=batch,
        run__device="cpu",
        run__threads=1,
    )
    start = time.perf_counter()
    trainer = Trainer(validate(config), quiet=True)
    for _ in range(steps):
        trainer.train_step()
    values = trainer.measure()
    return {**values, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--layers", nargs="+", default=list(LAYERS), choices=LAYERS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"non-saturating GAN (dcgan preset), 25 gaussians, {args.steps} steps, batch {args.batch_size}, "
        f"torch {torch.__version__}"
    )
    print(f"{'critic layer':<16}{'seed':>5}{'modes':>8}{'high quality':>14}{'EMD':>9}{'seconds':>9}")
    table = {}
    for layer in args.layers:
        for seed in args.seeds:
            r = run(layer, seed, args.steps, args.batch_size)
            table.setdefault(layer, []).append(r)
            print(
                f"{layer:<16}{seed:>5}{r['modes_covered']:>5}/25{100 * r['high_quality']:>13.1f}%"
                f"{r['emd']:>9.3f}{r['seconds']:>9.0f}",
                flush=True,
            )
    print("\nmean (min .. max) over seeds")
    for layer, rows in table.items():
        parts = []
        for key, scale, fmt in (("modes_covered", 1, "{:.1f}"), ("high_quality", 100, "{:.1f}%"), ("emd", 1, "{:.3f}")):
            xs = [scale * r[key] for r in rows]
            parts.append(f"{key} {fmt.format(statistics.mean(xs))} ({fmt.format(min(xs))} .. {fmt.format(max(xs))})")
        print(f"{layer:<16}" + ", ".join(parts))


if __name__ == "__main__":
    main()
