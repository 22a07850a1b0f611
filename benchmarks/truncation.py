"""Issue 10's truncation measurement: precision, recall and digit-FID of a trained MNIST generator as the
truncation threshold shrinks.

With threshold t every latent coordinate with |z| > t is redrawn (``earthmover sample --truncation t``;
InfoGAN's codes are left alone). For each threshold, ``--n`` samples from one fixed seed (a conditional
generator is asked for the labels 0..9 in equal shares, so that fewer classes cannot pass for less
diversity) are scored with the shipped digit classifier's features against the MNIST test split:
improved precision and recall (Kynkaanniemi et al. 2019, k = 3, the first n test images), digit-FID, the
mean top-class probability and, for a conditional generator, agreement with the requested label. The
expectation (Brock et al. 2019): precision rises and recall falls as t shrinks; the run reports what it sees.

    python benchmarks/truncation.py --run runs/conditional/projection-s0 --plot benchmarks/figures/truncation.png
    python benchmarks/truncation.py --run DIR --thresholds none 1 0.5 --n 500     # a quick look

The run is any directory ``earthmover train`` or benchmarks/conditional.py wrote.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from conditional import ControlScorer, control_sampler
from mnist import mnist_path


def threshold(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def plot(rows: list[dict], path: str, title: str) -> Path:
    from earthmover import plotting

    labels = ["none" if r["truncation"] is None else f"{r['truncation']:g}" for r in rows]
    x = range(len(rows))
    fig, (left, right) = plotting.plt.subplots(1, 2, figsize=(9, 3.6))
    left.plot(x, [r["precision"] for r in rows], "o-", label="precision")
    left.plot(x, [r["recall"] for r in rows], "s-", label="recall")
    left.set_ylim(0, 1.02)
    left.set_ylabel("digit features, k = 3")
    left.legend()
    right.plot(x, [r["fid"] for r in rows], "o-", color="C2")
    right.set_ylabel("digit-FID")
    for ax in (left, right):
        ax.set_xticks(list(x), labels)
        ax.set_xlabel("truncation threshold (stronger to the right)")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    return plotting.save_figure(fig, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, metavar="DIR", help="a trained MNIST run")
    p.add_argument(
        "--thresholds",
        nargs="+",
        type=threshold,
        default=[None, 2.0, 1.5, 1.0, 0.75, 0.5],
        help="'none' or t > 0 (default: none 2 1.5 1 0.75 0.5)",
    )
    p.add_argument("--n", type=int, default=2000, help="samples per threshold (default 2000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-ema", action="store_true", help="the raw generator, not the EMA")
    p.add_argument("--plot", help="write the figure here (PNG)")
    p.add_argument("--json", help="also write the rows as JSON lines here")
    args = p.parse_args()

    import torch

    from earthmover.train.sampler import load_sampler

    torch.set_num_threads(1)
    os.environ.setdefault("EARTHMOVER_MNIST", mnist_path())
    sampler = load_sampler(args.run, use_ema=not args.no_ema)
    codes = sampler.latent.codes is not None
    scorer = ControlScorer(args.n, codes=codes, precision_recall=True)
    draw = control_sampler(sampler, codes, seed=args.seed)
    rows = []
    for t in args.thresholds:
        row = {"truncation": t, **scorer(lambda n, t=t: draw(n, t))}
        row.pop("code_to_digit", None)
        rows.append(row)
        print(json.dumps(row), flush=True)

    generator = "raw" if args.no_ema else "EMA"
    what = f"{args.run} at step {sampler.step} ({generator} generator), {args.n} samples per threshold"
    print(f"\n{what}\n")
    truth = "code accuracy" if codes else "agreement" if sampler.num_classes else ""
    print("| truncation | precision | recall | digit-FID | confidence |" + (f" {truth} |" if truth else ""))
    print("| --- | ---: | ---: | ---: | ---: |" + (" ---: |" if truth else ""))
    for r in rows:
        extra = r.get("code_accuracy", r.get("agreement"))
        print(
            f"| {'none' if r['truncation'] is None else r['truncation']:} | {r['precision']:.3f} | {r['recall']:.3f} "
            f"| {r['fid']:.2f} | {r['confidence']:.3f} |" + (f" {100 * extra:.1f}% |" if truth else "")
        )
    if args.plot:
        print(f"\nwrote {plot(rows, args.plot, what)}")
    if args.json:
        Path(args.json).write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
