"""`earthmover sample` and `earthmover report`: what a finished (or interrupted) run draws and plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from earthmover import arguments, paths
from earthmover.errors import EarthmoverError
from earthmover.train import memory
from earthmover.train.resume import check_run_dir


def register(subparsers) -> None:
    """`earthmover sample` and `earthmover report`."""
    sample = subparsers.add_parser("sample", help="draw samples from a trained run into a PNG (and .npz)")
    sample.add_argument("--run", required=True, metavar="DIR")
    sample.add_argument("--checkpoint", metavar="PATH")
    sample.add_argument("--n", type=arguments.int_at_least(1, 64), default=64)
    sample.add_argument("--seed", type=arguments.int_at_least(0), default=0)
    sample.add_argument(
        "--truncation",
        type=arguments.positive_float(1.5),
        default=None,
        help="redraw latent coordinates beyond +-t (t > 0)",
    )
    sample.add_argument("--no-ema", action="store_true", help="use the raw generator weights, not the EMA")
    control = sample.add_mutually_exclusive_group()
    control.add_argument(
        "--label", type=arguments.int_at_least(0, 3), default=None, help="a conditional run: every sample of this class"
    )
    control.add_argument(
        "--per-label",
        type=arguments.int_at_least(1, 8),
        default=None,
        metavar="N",
        help="a conditional run: a grid of N samples per class, one row per class (sets --n)",
    )
    control.add_argument(
        "--code-sweep",
        action="store_true",
        help="an InfoGAN run: rows are the categorical code's values, columns sweep the first "
        "continuous code from -2 to 2 (sets --n)",
    )
    sample.add_argument("--out", metavar="PNG", help="default: DIR/samples/sampled.png")
    sample.add_argument("--npz", metavar="PATH", help="also save the samples as an .npz array")
    sample.set_defaults(func=run_sample)

    report = subparsers.add_parser("report", help="plot a run's curves into DIR/plots")
    report.add_argument("run", metavar="DIR")
    report.set_defaults(func=run_report)


# The picture shows at most this many samples (all of them go to --npz): a scatter of 10^8 points
# or a grid of 10^6 images takes hours to draw and is no better to look at.
PICTURE_LIMIT = {"points": 100_000, "images": 1024}


def _sample_memory(n: int, sample_shape, with_npz: bool) -> float:
    """Bytes to draw n samples and draw them: the chunks and their concatenation (float32), a copy for
    the .npz, and the picture (matplotlib holds about 100 bytes per scattered point; an image grid
    about as much as its samples again, as RGBA)."""
    import math

    per = 4 * math.prod(sample_shape)
    if len(sample_shape) == 1:
        picture = 100.0 * min(n, PICTURE_LIMIT["points"])
    else:
        picture = 2.0 * per * min(n, PICTURE_LIMIT["images"])
    return float(n) * (2 * per + (per if with_npz else 0)) + picture


def run_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from earthmover import plotting
    from earthmover.train.sampler import load_sampler

    run_dir = check_run_dir(args.run, "--run")
    if args.out:
        out = paths.output_file(args.out, "--out", example="sampled.png")
        if not out.suffix:
            out = out.with_name(out.name + ".png")  # what matplotlib writes: say so
            paths.output_file(out, "--out", example="sampled.png")
    else:
        out = paths.output_file(run_dir / "samples" / "sampled.png", "--run", create_parents=True)
    npz = None
    if args.npz:
        npz = paths.output_file(args.npz, "--npz", example="samples.npz")
        if npz.suffix != ".npz":
            npz = npz.with_name(npz.name + ".npz")  # what numpy writes: say so
            paths.output_file(npz, "--npz", example="samples.npz")
    sampler = load_sampler(run_dir, args.checkpoint, use_ema=not args.no_ema)
    shape = getattr(sampler, "sample_shape", None)
    if shape:
        memory.check_memory(
            _sample_memory(args.n, shape, npz is not None),
            f"sample --n {args.n}",
            "lower --n (draw several smaller files with different --seed)",
            sampler.device,
        )
    samples, nrow = _controlled_samples(sampler, args)
    limit = PICTURE_LIMIT["points" if samples.dim() == 2 else "images"]
    shown = samples[:limit]
    if samples.dim() == 2:
        title = (
            f"{args.n} samples at step {sampler.step}"
            if len(shown) == args.n
            else f"the first {len(shown)} of {args.n} samples at step {sampler.step}"
        )
        plotting.toy_snapshot(_reference(sampler), shown, out, title=title)
    else:
        plotting.save_image_grid(shown, out, nrow=nrow)
    if npz is not None:
        np.savez_compressed(npz, samples=samples.numpy())
    note = (
        ""
        if len(shown) == args.n
        else f" (the picture shows the first {len(shown)} of {args.n}"
        + ("; all are in the .npz)" if npz is not None else "; pass --npz to keep all of them)")
    )
    print(f"wrote {out}" + (f" and {npz}" if npz is not None else "") + f" from the {sampler.generator_label}" + note)
    return 0


def _controlled_samples(sampler, args) -> tuple:
    """(samples, columns of the grid) for --label, --per-label, --code-sweep or a plain draw. Sets
    args.n to the count the grid needs."""
    import torch

    from earthmover.data.latent import Draw

    nrow = None
    if args.label is not None or args.per_label is not None:
        if not sampler.num_classes:
            raise EarthmoverError(
                f"{'--label' if args.label is not None else '--per-label'} needs a run whose generator "
                f"is conditioned on labels; this one is not (train with --model.conditional concat, "
                f"projection or --head.acgan 1)"
            )
        if args.label is not None and args.label >= sampler.num_classes:
            raise EarthmoverError(
                f"--label {args.label} is not a class of this run; pick one from 0 to {sampler.num_classes - 1}"
            )
        if args.per_label is not None:
            from earthmover.data.labels import grid_labels

            labels, nrow = grid_labels(sampler.num_classes, args.per_label), args.per_label
        else:
            labels = torch.full((args.n,), args.label)
        args.n = len(labels)
        return sampler.sample(args.n, seed=args.seed, truncation=args.truncation, progress=True, labels=labels), nrow
    if args.code_sweep:
        codes = sampler.latent.codes
        if codes is None:
            raise EarthmoverError(
                "--code-sweep needs an InfoGAN run (trained with --head.infogan 1); this one has no codes"
            )
        from earthmover.data.codes import code_sweep

        sweep = code_sweep(codes, generator=torch.Generator().manual_seed(args.seed))
        nrow = len(sweep) // codes.categorical[0]
        args.n = len(sweep)
        return sampler.generate(Draw(sweep.latent(), None, sweep)), nrow
    return sampler.sample(args.n, seed=args.seed, truncation=args.truncation, progress=True), nrow


def _reference(sampler):
    import torch

    from earthmover.data.toy import make_toy

    return make_toy(sampler.config.data.name).sample(1000, torch.Generator().manual_seed(0))


def run_report(args: argparse.Namespace) -> int:
    from earthmover import plotting
    from earthmover.train.logging import read_metrics

    run_dir = Path(args.run)
    if not (run_dir / "metrics.jsonl").is_file():
        raise EarthmoverError(f"no metrics.jsonl in {args.run!r}; pass a run directory that train wrote")
    out = paths.output_file(run_dir / "plots" / "losses.png", "report", create_parents=True)
    records = read_metrics(run_dir)
    if not records:
        raise EarthmoverError(
            f"{str(run_dir / 'metrics.jsonl')!r} holds no readable records; pass a run that logged at least one step"
        )
    out = plotting.training_curves(records, out, title=str(args.run))
    print(f"wrote {out}")
    return 0
