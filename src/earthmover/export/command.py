"""`earthmover export --run DIR --format onnx|torchscript|safetensors --out PATH`: the trained generator written
for other programs. Everything is checked before anything is written, and the file appears whole or not at all."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from earthmover.errors import EarthmoverError
from earthmover.export.formats import EXPORTERS, EXTRA_HINT


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a run's generator as ONNX, TorchScript or safetensors",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--run", required=True, metavar="DIR", help="the run directory train wrote")
    p.add_argument("--format", required=True, metavar="FORMAT", help=f"one of {', '.join(EXPORTERS.names())}")
    p.add_argument("--out", required=True, metavar="PATH", help="the file to write (e.g. generator.onnx)")
    p.add_argument("--checkpoint", metavar="CKPT", help="a checkpoint of the run (default: its newest loadable one)")
    p.add_argument("--no-ema", action="store_true", help="the raw generator instead of its EMA weights")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from earthmover import paths
    from earthmover.train.resume import check_run_dir
    from earthmover.train.sampler import load_sampler
    from earthmover.trained import TrainedGenerator

    exporter = EXPORTERS[args.format]  # unknown: one line with the nearest name
    missing = exporter.missing()
    if missing:
        raise EarthmoverError(
            f"--format {args.format} needs {', '.join(missing)}, part of the optional extra [export]; {EXTRA_HINT}"
        )
    run_dir = check_run_dir(args.run, "--run")
    out = paths.output_file(args.out, "--out", example=f"generator{exporter.suffix}")
    _check_suffix(out, args.format, exporter.suffix)
    trained = TrainedGenerator(load_sampler(run_dir, args.checkpoint, use_ema=not args.no_ema), str(run_dir))
    exported = trained.for_export()
    stage = exported.metadata.get("stage")
    if stage and args.format != "safetensors" and (stage["resolution"] < stage["final"] or stage["alpha"] < 1):
        raise EarthmoverError(
            f"the run stopped while growing ({stage['resolution']}x{stage['resolution']}, fade-in "
            f"{stage['alpha']:.2f}, of {stage['final']}x{stage['final']}); a traced {args.format} file would fix "
            f"that stage: export a checkpoint trained to full resolution, or --format safetensors"
        )
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        exporter.write(exported, str(tmp))
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    print(f"wrote {out} ({args.format}) from the {trained.label} at step {trained.step}")
    shape = trained.sample_shape  # an exportable (image) generator knows its shape (the type: ignore below)
    print(f"inputs: {exported.specification()}; output: images (N, {', '.join(map(str, shape))})")  # type: ignore[arg-type]
    return 0


def _check_suffix(out: Path, name: str, suffix: str) -> None:
    """Refuse an --out whose suffix names another format (``--format safetensors --out g.onnx``): the file
    would lie about what it holds. Any other suffix (or none) is the user's choice."""
    claimed = [other for other in EXPORTERS.names() if EXPORTERS[other].suffix == out.suffix.lower()]
    if claimed and name not in claimed:
        raise EarthmoverError(
            f"--out {str(out)!r} has the suffix of the {claimed[0]} format but --format is {name}; "
            f"name it e.g. {out.with_suffix(suffix).name} or pass --format {claimed[0]}"
        )
