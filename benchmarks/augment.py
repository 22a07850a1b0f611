"""Issue 22's "Augmentation on small data": MNIST restricted to a few training images, with and without
augmentation, at the same wall time.

For each training-set size in ``--limits`` (``data.limit``: the first N training images; the reference
statistics stay the full 10,000-image test split, ``mnist:test``), each seed in ``--seeds`` and each arm:

* ``none``: the ``mnist`` preset as it is;
* ``diffaugment``: ``augment.policy = translation,cutout,color`` with p = 1 (DiffAugment's setting);
* ``adaptive``: the same policy with ADA's adaptive p (``augment.target 0.6``, interval 4, kimg 500);

a run trains for ``--minutes`` of its own time (evaluation pauses the clock) and reports, every
``--eval-every`` minutes and at the end, digit-FID and the digit classifier's confidence of the EMA
generator (``benchmarks/mnist.py``'s Scorer, ``--n`` samples). At the end it reports the memorization check:
the mean distance from each of 100 samples to its nearest training image, against the same for 100
held-out test digits (a generator that copies its training images sits far below the test digits).

    python benchmarks/augment.py --minutes 20 --eval-every 2              # the issue's protocol (hours)
    python benchmarks/augment.py --minutes 1 --eval-every 0.5 --n 500 --limits 500 --seeds 0   # a smoke run
    python benchmarks/augment.py --minutes 20 --threads 1 --parallel 2 --json aug.jsonl   # two at a time, one core each

Each line printed is a JSON record; ``--json FILE`` writes them all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from earthmover.arguments import int_at_least, positive_float

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mnist import Scorer, mnist_config, run_clock, side_by_side  # noqa: E402

ARMS = {
    "none": {},
    "diffaugment": {"augment.policy": "translation,cutout,color", "augment.p": 1.0},
    "adaptive": {"augment.policy": "translation,cutout,color", "augment.target": 0.6},
}


def nearest_distances(x: torch.Tensor, train: torch.Tensor) -> float:
    """The mean over rows of x of the Euclidean distance to the nearest training image (pixels in [-1, 1])."""
    a, b = x.flatten(1).double(), train.flatten(1).double()
    return float(torch.cdist(a, b).min(dim=1).values.mean())


def held_out_digits(n: int) -> torch.Tensor:
    """n MNIST test digits in [-1, 1], (n, 1, 28, 28)."""
    from earthmover.data.images import load_images

    return load_images("mnist", split="test", limit=n).to_float()


def one_run(job: tuple[int, int, str], args, report) -> None:
    """One arm's run: (training images, seed, arm); its records go to ``report``."""
    from earthmover.train.loop import Trainer

    limit, seed, arm = job
    values = {"data.name": "mnist", "data.limit": limit, "run.seed": seed, "run.device": "cpu"}
    values |= {"run.threads": args.threads, "run.eval_metrics": "", **ARMS[arm]}
    config, _ = mnist_config("mnist", values)
    trainer = Trainer(config, quiet=True, write_files=False)
    label = f"{arm} limit={limit} seed={seed}"

    def scorer(fn):
        scores = Scorer(args.n)(fn)
        return {**scores, **({"aug/p": trainer.augment.p} if trainer.augment is not None else {})}

    sampler = {"ema": lambda n: trainer.sample(n, seed=1)}

    class Clock:
        minutes, eval_every = args.minutes, args.eval_every * 60

    run_clock(Clock, label, trainer.train_step, sampler, report, scorer=scorer, threads=args.threads)
    train = trainer.stream.images
    train = (train.float() / 127.5 - 1.0) if train.dtype == torch.uint8 else train.float()
    samples = trainer.sample(100, seed=2)
    if args.grids:  # what the issue asks to look at: samples, and samples over their nearest training images
        from earthmover.plotting import save_image_grid

        stem = Path(args.grids) / f"{arm}-limit{limit}-seed{seed}"
        save_image_grid(samples[:64], f"{stem}.png", nrow=8, caption=f"{label}, step {trainer.step}")
        nearest = torch.cdist(samples[:16].flatten(1).double(), train.flatten(1).double()).argmin(dim=1)
        pairs = torch.cat([samples[:16], train[nearest].reshape(16, *samples.shape[1:])])
        save_image_grid(pairs, f"{stem}-nearest.png", nrow=16, caption="top: samples; below: nearest training image")
    report(
        {
            "contender": label,
            "steps": trainer.step,
            "nearest_train_distance/samples": nearest_distances(samples, train),
            "nearest_train_distance/test_digits": nearest_distances(held_out_digits(100), train),
        }
    )


def summarize(paths: list[str]) -> str:
    """The Markdown table of RESULTS.md's "Augmentation on small data" from the records of ``--json`` files
    (a study split over several invocations): per training-set size and seed, each arm's steps, final and best
    digit-FID, confidence, digits present, the change of the final FID against no augmentation, and the
    nearest-training-image distances."""
    evals, ends = {}, {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            r = json.loads(line)
            name = r["contender"].removesuffix("/ema")
            arm, limit, seed = name.split(" ")[0], int(name.split("limit=")[1].split()[0]), int(name.split("seed=")[1])
            if "fid" in r:
                evals.setdefault((limit, seed, arm), []).append(r)
            else:
                ends[(limit, seed, arm)] = r
    rows = [
        "| images | seed | arm | steps | final digit-FID | vs none | best (minute) | confidence | digits | "
        "nearest train: samples / test digits | p |",
        "|" + "---|" * 11,
    ]
    for limit, seed, arm in sorted(evals, key=lambda k: (k[0] or 10**9, k[1], list(ARMS).index(k[2]))):
        series, end = evals[(limit, seed, arm)], ends.get((limit, seed, arm), {})
        last, best = series[-1], min(series, key=lambda r: r["fid"])
        base = evals.get((limit, seed, "none"), [{}])[-1].get("fid")
        change = f"{100 * (last['fid'] / base - 1):+.0f}%" if base and arm != "none" else ""
        near = end.get("nearest_train_distance/samples"), end.get("nearest_train_distance/test_digits")
        rows.append(
            f"| {limit or 60000} | {seed} | {arm} | {last['steps']} | {last['fid']:.2f} | {change} | "
            f"{best['fid']:.2f} ({best['seconds'] / 60:.0f}) | {last['confidence']:.3f} | {last['digits']} | "
            + (f"{near[0]:.2f} / {near[1]:.2f}" if near[0] is not None else "")
            + (f" | {last['aug/p']:.2f} |" if "aug/p" in last else " | |")
        )
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=positive_float(20), default=20.0, help="training minutes per run (default 20)"
    )
    parser.add_argument(
        "--eval-every", type=positive_float(2), default=2.0, help="minutes between evaluations (default 2)"
    )
    parser.add_argument(
        "--limits",
        type=int_at_least(0, 500),
        nargs="+",
        default=[500, 2000],
        help="training images (default 500 2000; 0 = all 60,000)",
    )
    parser.add_argument("--seeds", type=int_at_least(0), nargs="+", default=[0, 1])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--n", type=int_at_least(1, 2000), default=2000, help="samples per evaluation (default 2000)")
    parser.add_argument("--threads", type=int_at_least(1), default=2)
    parser.add_argument("--json", help="append every record to this file as it comes (emptied first)")
    parser.add_argument("--summarize", nargs="+", metavar="JSONL", help="print the table of these records, run nothing")
    parser.add_argument("--grids", help="write each run's final samples, and their nearest training images, here")
    parser.add_argument(
        "--parallel",
        type=int_at_least(1, 2),
        default=1,
        help="runs at once, one process each, in the order limit, seed, arm (so an arm's rivals run beside it); "
        "with --threads 1 and --parallel 2 each run has one of the 2 cores",
    )
    args = parser.parse_args(argv)
    if args.summarize:
        print(summarize(args.summarize))
        return 0
    if args.json and not Path(args.json).resolve().parent.is_dir():
        parser.error(f"argument --json: the folder of {args.json!r} does not exist; create it or name another file")
    if args.grids:
        Path(args.grids).mkdir(parents=True, exist_ok=True)
    jobs = [(limit, seed, arm) for limit in args.limits for seed in args.seeds for arm in args.arms]
    out = Path(args.json) if args.json else None
    if out is not None:
        out.write_text("")  # records are appended as they come: a stopped study keeps what it finished

    def report(record: dict) -> None:
        print(json.dumps(record), flush=True)
        if out is not None:
            with out.open("a") as f:
                f.write(json.dumps(record) + "\n")

    if args.parallel > 1:
        side_by_side(one_run, jobs, args, report, at_once=args.parallel)
    else:
        for job in jobs:
            one_run(job, args, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
