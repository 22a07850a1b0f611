"""Issue 10's progressive-growing benchmark: MNIST padded to 32x32, grown from 4x4, against the same
networks trained at 32x32 from the start, for the same number of real images.

Both contenders use the ``progressive`` architecture (Karras et al. 2018: equalized learning rate,
pixel norm) at width 32 (feature maps min(256 / 2^stage, 32): 32 up to 16x16, 16 at 32x32; a CPU
budget) and the paper's loss: WGAN-GP (lambda 10) plus the drift term (0.001 times the squared real
score), n_critic 1, Adam 1e-3 with betas (0, 0.99) decayed linearly toward 0 over 4,500 steps (the
library default the recorded run inherited; at 96k images it ends at two thirds of 1e-3), batch 64,
EMA 0.999 (``--set`` overrides any of these). They differ in one field:

* ``grown``: ``model.grow`` from 4x4; ``--stabilize`` images at 4x4, then for 8, 16 and 32 a fade of
  ``--fade`` images (alpha rising linearly) and ``--stabilize`` more; 32x32 for the rest;
* ``full``: 32x32 from the first step.

Each trains until it has shown ``--images`` real images, on its own CPU thread, the two side by side.
The clock counts training steps only. At the end each generator (raw, and the EMA when kept) draws
``--n`` images; they are cropped back to the central 28x28 (the inverse of the padding) and scored by
the shipped digit classifier: digit-FID against the MNIST test split, mean top-class probability and
digits present. The grown run also reports when it reached each resolution.

    python benchmarks/growing.py                                   # 96k images each, side by side
    python benchmarks/growing.py --images 20000 --fade 2000 --stabilize 2000 --n 200   # a check that it runs
    python benchmarks/growing.py --table runs/growing/records.jsonl

The padded copy of MNIST (x_train, y_train, x_test, y_test at 32x32, 2 black pixels on each side) is
written once to ``--out``/mnist32.npz from $EARTHMOVER_MNIST or shared/data/mnist.npz.
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from mnist import Scorer, mnist_config, mnist_path, read_records, refuse_bad_arguments, run_and_record

from earthmover.arguments import int_at_least

PAD = 2  # 28 + 2 + 2 = 32
PADDED = "mnist32.npz"
CONFIG = {
    "objective.name": "wasserstein",
    "penalty.gp": 10.0,
    "penalty.drift": 0.001,
    "optim.name": "adam",
    "optim.lr_g": 1e-3,
    "optim.lr_d": 1e-3,
    "optim.beta1": 0.0,
    "optim.beta2": 0.99,
    "optim.n_critic": 1,
    "model.arch": "progressive",
    "model.width": 32,
    "model.ema": 0.999,
    "data.batch_size": 64,
    "run.device": "cpu",
    "run.threads": 1,
    "run.eval_metrics": "",
    # the library defaults the recorded run inherited, said out loud: the learning rate decays
    # linearly toward 0 over 4,500 steps, so a 1,500-step run ends at two thirds of it
    "optim.lr_decay": "linear",
    "run.steps": 4500,
}


def padded_mnist(out: Path) -> Path:
    """MNIST padded with PAD black pixels on each side, as an .npz the library reads (written once)."""
    path = out / PADDED
    if not path.exists():
        out.mkdir(parents=True, exist_ok=True)
        with np.load(mnist_path()) as src:
            arrays = {
                k: (np.pad(src[k], ((0, 0), (PAD, PAD), (PAD, PAD))) if k.startswith("x_") else src[k])
                for k in ("x_train", "y_train", "x_test", "y_test")
            }
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
    return path


def crop28(images: torch.Tensor) -> torch.Tensor:
    """32x32 samples -> their central 28x28 (what the padding added is cut away)."""
    return images[..., PAD : PAD + 28, PAD : PAD + 28]


def contender_config(name: str, args):
    """The config of contender ``name`` (the paper's WGAN-GP-with-drift settings above, then --set),
    validated; nothing is written."""
    from earthmover.train.config import validate

    values = {**CONFIG, "data.name": str(Path(args.out) / PADDED), "run.seed": args.seed}
    if name == "grown":
        values.update(
            {
                "model.grow": True,
                "model.grow_start": 4,
                "model.grow_fade": args.fade,
                "model.grow_stabilize": args.stabilize,
            }
        )
    config, _ = mnist_config("quickstart", values, args.set)  # the library's defaults, as Config() gives
    return validate(config)


def run(name, args, report):
    """Train one contender until it has shown args.images real images, then score it."""
    from earthmover.train.loop import Trainer, eval_mode
    from earthmover.train.sampler import Sampler

    torch.set_num_threads(1)
    config = contender_config(name, args)
    run_dir = Path(args.out) / name
    trainer = Trainer(config, run_dir=run_dir, quiet=True)
    shown, trained, resolution = 0, 0.0, None
    while shown < args.images:
        stage = trainer.growth.describe().get("resolution", 32)
        if stage != resolution:
            resolution = stage
            report(
                {
                    "contender": name,
                    "resolution": resolution,
                    "images": shown,
                    "seconds": round(trained, 1),
                    "steps": trainer.step,
                }
            )
        t0 = time.perf_counter()
        trainer.train_step()
        trained += time.perf_counter() - t0
        shown += trainer.batch_size
    scorer = Scorer(args.n)
    nets = {"raw": trainer.generator, **({"ema": trainer.ema.module} if trainer.ema is not None else {})}
    for label, net in nets.items():
        with eval_mode(net):
            images = Sampler(net, trainer.latent, config, trainer.device).sample(args.n, seed=1)
        if images.shape[-1] != 32:
            raise SystemExit(
                f"{name}: the generator ends at {images.shape[-1]}x{images.shape[-1]}, not 32x32; "
                f"show more images (--images) or shorten --fade/--stabilize"
            )
        scores, _ = scorer.score(crop28(images))
        report(
            {
                "contender": f"{name}/{label}",
                "images": shown,
                "steps": trainer.step,
                "seconds": round(trained, 1),
                **scores,
            }
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.toml")  # so `earthmover sample --run` can draw from it
    trainer.save()


def summarize(records: list[dict]) -> None:
    finals = [r for r in records if "fid" in r]
    if not finals:
        return
    print("\n| contender / generator | images | steps | training s | digit-FID (28x28 crop) | confidence | digits |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in sorted(finals, key=lambda r: r["contender"]):
        print(
            f"| {r['contender']} | {r['images']} | {r['steps']} | {r['seconds']:.0f} | {r['fid']:.2f} | "
            f"{r['confidence']:.3f} | {r['digits']}/10 |"
        )
    stages = [r for r in records if "resolution" in r and r["contender"] == "grown"]
    if stages:
        print(
            "\ngrown: "
            + ", ".join(
                f"{r['resolution']}x{r['resolution']} from {r['images']} images ({r['seconds']:.0f} s)" for r in stages
            )
        )
    by = {r["contender"]: r for r in finals}
    for label in ("raw", "ema"):
        g, f = by.get(f"grown/{label}"), by.get(f"full/{label}")
        if g and f:
            print(
                f"{label}: grown / full training time {g['seconds'] / f['seconds']:.2f}x, "
                f"digit-FID {g['fid']:.2f} against {f['fid']:.2f}"
            )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--images",
        type=int_at_least(1, 96_000),
        default=96_000,
        help="real images each contender sees (default 96k: 1.6 epochs)",
    )
    p.add_argument(
        "--fade",
        type=int_at_least(0, 12_000),
        default=12_000,
        help="images over which each new block fades in (default 12k)",
    )
    p.add_argument(
        "--stabilize",
        type=int_at_least(0, 12_000),
        default=12_000,
        help="images at each resolution after its fade (default 12k)",
    )
    p.add_argument("--n", type=int_at_least(2, 1000), default=1000, help="samples scored (default 1000)")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--only", choices=["grown", "full"], help="one contender")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for both")
    p.add_argument("--out", default="runs/growing")
    p.add_argument("--json", help="also write the records as JSON lines here")
    p.add_argument("--table", nargs="+", metavar="JSONL", help="only print the table of records saved with --json")
    args = p.parse_args()
    if args.table:
        summarize(read_records(args.table))
        return
    jobs = [args.only] if args.only else ["grown", "full"]
    refuse_bad_arguments(p, args.out, [partial(contender_config, job, args) for job in jobs])
    padded_mnist(Path(args.out))  # once, before the processes
    run_and_record(run, jobs, args, summarize, at_once=len(jobs))


if __name__ == "__main__":
    main()
