"""`earthmover stats SET --out STATS.npz`: FID reference statistics in pytorch-fid's and TTUR's format."""

from __future__ import annotations

import argparse

from earthmover import arguments, paths
from earthmover.errors import EarthmoverError
from earthmover.train.device import resolve_device


def run_stats(args: argparse.Namespace) -> int:
    from earthmover.metrics.features import extract, extractor_id, get_extractor, resize_mode
    from earthmover.metrics.reference import resolve
    from earthmover.metrics.stats import save_stats, small_sample_warning, stats_of

    resolve_device(args.device, name="--device")
    out = paths.output_file(args.out, "--out", example="stats.npz")
    if out.suffix != ".npz":
        raise EarthmoverError(f"--out {args.out}: statistics are written as .npz; name the file e.g. stats.npz")
    if args.inception:
        paths.input_file(args.inception, "--inception", "TorchScript file of the FID Inception network")
    extractor = get_extractor(args.features, device=args.device, inception_path=args.inception, resize=args.resize)
    images, label = resolve(args.set)
    n = len(images) if args.n is None else args.n
    if n > len(images) or n < 2:
        raise EarthmoverError(f"--n {n}: set {label!r} holds {len(images)} images; pass --n between 2 and that")
    bar = None if args.quiet else f"{args.features} features of {label}"
    feats = extract(extractor, images[:n], batch_size=args.batch_size, progress=bar).features
    result = stats_of(
        feats, features=args.features, extractor_id=extractor_id(extractor), resize=resize_mode(extractor), source=label
    )
    save_stats(out, result)
    note = small_sample_warning(args.features, n, n)
    if note:
        print(note)
    print(f"wrote {out}: mu ({result.dim},), sigma ({result.dim}, {result.dim}) float64 from {n} images of {label}")
    print(f"features: {args.features} ({extractor_id(extractor)}), resize: {resize_mode(extractor)}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "stats",
        help="FID reference statistics (mu, sigma) of an image set, as pytorch-fid/TTUR .npz",
        description="Write the mean and covariance of an image set's features as float64 `mu` and `sigma` "
        "(pytorch-fid's and TTUR's format) plus metadata: the feature network and its hash, n, the resize mode. "
        "`earthmover fid A STATS.npz` and `earthmover eval --reference STATS.npz` read it.",
    )
    p.add_argument("set", help="folder of images, .npz/.npy, PATH.npz:SPLIT, or NAME:SPLIT such as mnist:test")
    p.add_argument("--out", required=True, metavar="STATS.npz")
    p.add_argument(
        "--n", type=arguments.int_at_least(2, 10000), default=None, help="use the first N images (default all)"
    )
    p.add_argument("--features", choices=("inception", "digits"), default="inception")
    p.add_argument("--inception", metavar="PATH", default=None, help="Inception TorchScript file")
    p.add_argument("--resize", choices=("legacy-tf", "clean"), default="legacy-tf", help="Inception input resize")
    p.add_argument("--batch-size", type=arguments.int_at_least(1, 100), default=100)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar (it shows only when stderr is a terminal)")
    p.set_defaults(func=run_stats)
