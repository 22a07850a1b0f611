"""`earthmover train`, `earthmover sample`, `earthmover report`."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

from earthmover import checks
from earthmover.errors import EarthmoverError

# Short forms of the most used fields.
SHORTCUTS = {
    "--steps": "run.steps",
    "--seed": "run.seed",
    "--device": "run.device",
    "--amp": "run.amp",
    "--checkpoint-every": "run.checkpoint_every",
    "--keep-checkpoints": "run.keep_checkpoints",
    "--log-every": "run.log_every",
    "--sample-every": "run.sample_every",
    "--on-nan": "run.on_nan",
    "--data": "data.name",
    "--batch-size": "data.batch_size",
    "--image-size": "data.image_size",
    "--arch": "model.arch",
    "--width": "model.width",
    "--ema": "model.ema",
    "--objective": "objective.name",
    "--n-critic": "optim.n_critic",
    "--lr-g": "optim.lr_g",
    "--lr-d": "optim.lr_d",
}


def register(subparsers) -> None:
    from earthmover.config import DEFAULT_PRESET, Config
    from earthmover.presets import PRESETS

    train = subparsers.add_parser(
        "train",
        help=f"train a GAN (default: the {DEFAULT_PRESET} preset, WGAN-GP on the 25-gaussian grid)",
        description="Train a GAN. Precedence: defaults < --preset < --config file < flags. "
        "Every config field is a flag --section.field (e.g. --optim.lr-d 2e-4).",
    )
    train.add_argument("--preset", choices=list(PRESETS), help=f"a paper's defaults (default: {DEFAULT_PRESET})")
    train.add_argument(
        "--plugins",
        metavar="MODULES",
        help="comma-separated modules that register objectives, penalties, "
        "constraints or heads (also $EARTHMOVER_PLUGINS); their parameters become flags",
    )
    train.add_argument("--config", metavar="TOML", help="a config file, e.g. a run's config.toml")
    train.add_argument("--out", metavar="DIR", help="the run directory (default: runs/<time>-<preset>-<data>)")
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its newest loadable checkpoint")
    train.add_argument(
        "--init",
        metavar="CHECKPOINT",
        help="start a new run (step 0, fresh optimizers) from the network weights of a checkpoint",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    for flag, dotted in SHORTCUTS.items():
        train.add_argument(flag, dest=dotted, default=None, metavar="V", help=f"= --{dotted.replace('_', '-')}")
    config = Config()  # what a plain run uses: the help shows its values
    groups: dict = {}
    for dotted, p in config.params().items():
        section = dotted.split(".")[0]
        if section not in groups:
            groups[section] = train.add_argument_group(f"[{section}]")
        owner = f"[{p.section} {' / '.join(p.owners)}] " if p.owners else ""
        groups[section].add_argument(
            f"--{dotted.replace('_', '-')}",
            dest=dotted,
            default=None,
            metavar="V",
            help=f"{owner}{p.doc}{'; ' if p.doc else ''}{p.range_text()} (default {config.get(dotted)!r})".replace(
                "%", "%%"
            ),
        )
    train.set_defaults(func=run_train)
    _suggest_unknown_flags(train)

    sample = subparsers.add_parser("sample", help="draw samples from a trained run into a PNG (and .npz)")
    sample.add_argument("--run", required=True, metavar="DIR")
    sample.add_argument("--checkpoint", metavar="PATH")
    sample.add_argument("--n", type=checks.int_at_least(1, 64), default=64)
    sample.add_argument("--seed", type=checks.int_at_least(0), default=0)
    sample.add_argument(
        "--truncation",
        type=checks.positive_float(1.5),
        default=None,
        help="redraw latent coordinates beyond +-t (t > 0)",
    )
    sample.add_argument("--no-ema", action="store_true", help="use the raw generator weights, not the EMA")
    control = sample.add_mutually_exclusive_group()
    control.add_argument(
        "--label", type=checks.int_at_least(0, 3), default=None, help="a conditional run: every sample of this class"
    )
    control.add_argument(
        "--per-label",
        type=checks.int_at_least(1, 8),
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
    sample.add_argument(
        "--png-dir", metavar="OUT", help="write the N samples as lossless 8-bit PNG files into this new folder instead"
    )
    sample.add_argument("--overwrite", action="store_true", help="with --png-dir: replace a non-empty folder")
    sample.set_defaults(func=run_sample)

    report = subparsers.add_parser("report", help="plot a run's curves into DIR/plots")
    report.add_argument("run", metavar="DIR")
    report.set_defaults(func=run_report)


def _normalize_flag(arg: str) -> str:
    """--optim.lr_d means --optim.lr-d: field names may be written as in the TOML file."""
    if not arg.startswith("--") or "." not in arg:
        return arg
    name, eq, value = arg.partition("=")
    return name.replace("_", "-") + eq + value


def _join_negative_values(args: list[str], actions: dict) -> list[str]:
    """argparse reads "--lr-d -1e-4" as two flags (it knows -1 and -.5 as numbers, not -1e-4);
    pass such a value as "--lr-d=-1e-4" so the range check can name the field instead."""
    out: list[str] = []
    for arg in args:
        previous = out[-1] if out else ""
        action = actions.get(previous)
        if (
            arg.startswith("-")
            and _is_number(arg)
            and action is not None
            and action.nargs is None
            and action.option_strings
        ):
            out[-1] = f"{previous}={arg}"
        else:
            out.append(arg)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _suggest_unknown_flags(parser: argparse.ArgumentParser) -> None:
    """Make `parser` refuse an unknown flag itself, naming the nearest valid ones (argparse alone
    says only "unrecognized arguments"). The parser class comes from cli.py, so subclass it here."""
    from earthmover.errors import did_you_mean

    base = type(parser)

    class SuggestingParser(base):
        def parse_known_args(self, args=None, namespace=None):
            if args is not None:
                args = _join_negative_values([_normalize_flag(a) for a in args], self._option_string_actions)
            namespace, extras = super().parse_known_args(args, namespace)
            for extra in extras:
                if extra.startswith("-"):
                    flag = extra.partition("=")[0]
                    flags = [o for action in self._actions for o in action.option_strings if o.startswith("--")]
                    hint = did_you_mean(flag, flags, n=2, cutoff=0.6, quote=False)
                    self.error(
                        f"unknown flag {flag}{hint} (every config field is a flag --section.field; "
                        f"see earthmover {self.prog.split()[-1]} --help)"
                    )
            return namespace, extras

    parser.__class__ = SuggestingParser


def build_config(args: argparse.Namespace):
    """defaults < preset < config file < flags."""
    from earthmover.config import DEFAULT_PRESET, Config, load_toml, validate

    if getattr(args, "config", None):
        checks.input_file(args.config, "--config", "TOML file such as a run's config.toml")
    file_values = load_toml(args.config) if getattr(args, "config", None) else {}
    preset = getattr(args, "preset", None) or file_values.get("preset") or DEFAULT_PRESET
    config = Config(
        preset, plugins=",".join(filter(None, [getattr(args, "plugins", None), file_values.get("plugins")]))
    )
    config.apply(
        {k: v for k, v in file_values.items() if k not in ("preset", "plugins")}, source=f"config file {args.config}"
    )
    config.apply({dotted: value for dotted, value in vars(args).items() if "." in dotted and value is not None})
    return validate(config)


# Fields a resumed run may change: how long it runs, what it logs and keeps, where it computes.
# Every other field (and the preset) is part of what the checkpoint means; changing one at resume
# is refused, naming the field and how to start a new run from the checkpoint instead.
RESUME_SAFE = frozenset(
    {
        "run.steps",
        "run.log_every",
        "run.log",
        "run.sample_every",
        "run.checkpoint_every",
        "run.keep_checkpoints",
        "run.on_nan",
        "run.rollback_lr_factor",
        "run.eval_every",
        "run.eval_metrics",
        "run.eval_n",
        "run.measure_n",
        "run.threads",
        "run.device",
    }
)


def _resume_differences(saved, config) -> list[tuple[str, object, object]]:
    """(field, the run's value, the new value) for each field that changes what the checkpoint means."""
    from earthmover.config import all_fields

    out = []
    if saved.preset != config.preset:
        out.append(("preset", saved.preset, config.preset))
    for dotted in all_fields():
        if dotted not in RESUME_SAFE and saved.get(dotted) != config.get(dotted):
            out.append((dotted, saved.get(dotted), config.get(dotted)))
    return out


def _checkpoint_config(state: dict):
    """The config a checkpoint was written with, or None (an old checkpoint, another schema)."""
    from earthmover.config import Config

    data = state.get("config")
    if not isinstance(data, dict):
        return None
    try:
        return Config.from_dict(data)
    except (EarthmoverError, TypeError, AttributeError):
        return None


def check_data_name(config) -> None:
    """A data name that is no toy distribution, no named image source and no path: one line that lists
    both kinds and suggests the nearest name (the image loader alone knows only the image sources)."""
    import re

    from earthmover.data.images import NAMED_SOURCES, SOURCE_PREFIXES
    from earthmover.data.toy import TOY_DISTRIBUTIONS
    from earthmover.errors import did_you_mean

    name = config.data.name
    head = name.partition(":")[0].lower()
    if (
        name in TOY_DISTRIBUTIONS
        or head in SOURCE_PREFIXES
        or re.match(r"^(https?|file)://", name, re.I)
        or Path(name).expanduser().exists()
        or "/" in name
        or "\\" in name
        or Path(name).suffix
        or name.startswith(".")
    ):
        return  # the loader names what is wrong with a path, a URL or a split
    hint = did_you_mean(name, [*TOY_DISTRIBUTIONS, *NAMED_SOURCES]).removeprefix("; ")
    raise EarthmoverError(
        f"data.name = {name!r} is neither a toy distribution nor an image source nor an existing path; "
        f"{hint + ' ' if hint else ''}toy: {', '.join(TOY_DISTRIBUTIONS)}; images: mnist, fashion-mnist, cifar10, digits, torchvision:NAME, folder:PATH, a .npz/.npy/IDX file, "
        f"an image folder or an http(s) URL to an .npz"
    )


def check_training_memory(config, sample_shape, device, world_size: int = 1) -> None:
    """Refuse, before anything is allocated or written, a batch or width the device cannot hold."""
    per_process = max(1, config.data.batch_size // max(1, world_size))
    try:
        need = checks.training_memory(config, sample_shape, batch_size=per_process)
    except EarthmoverError:
        raise
    except Exception:  # an architecture the meta device cannot build: the allocator has the last word
        return
    checks.check_memory(
        need,
        f"training with data.batch_size = {config.data.batch_size} and model.width = {config.model.width or 'auto'}",
        "lower --batch-size or --width",
        device,
    )


def _sample_shape(config) -> tuple[int, ...]:
    from earthmover.train.build import resolve_data_shape

    return tuple(resolve_data_shape(config))


def run_train(args: argparse.Namespace) -> int:
    """Validate and load everything first (flags, config, data, checkpoint, output folders, memory),
    write last: a command that fails leaves the run directory byte-identical."""
    from earthmover.train import state as ckpt
    from earthmover.train.distributed import init_from_environment, shutdown
    from earthmover.train.loop import Trainer, default_run_dir

    state = init_state = path = None
    skipped: list = []
    if args.resume:
        if args.out:
            raise EarthmoverError(
                f"--out {args.out!r} with --resume: a resumed run stays in its own folder; drop --out, or start a new run "
                f"from a checkpoint with --init {args.resume}/checkpoints/step_N.pt --out {args.out}"
            )
        if args.init:
            raise EarthmoverError(
                "--init with --resume: --resume continues a run, --init starts a new one; pass one of them"
            )
        run_dir = check_run_dir(args.resume, "--resume")
        if args.config:
            raise EarthmoverError(
                f"--config with --resume: a resumed run reads {run_dir / 'config.toml'}; drop --config"
            )
        from earthmover.config import Config, load_toml

        saved = Config.from_dict(load_toml(run_dir / "config.toml"))
        args.config = str(run_dir / "config.toml")
        config = build_config(args)
        if ckpt.list_checkpoints(run_dir):
            path, state = ckpt.latest_loadable_checkpoint(run_dir, skipped)
            differences, holder = _resume_differences(saved, config), "the run's config.toml"
            written = _checkpoint_config(state)
            if not differences and written is not None:  # config.toml edited by hand since the checkpoint
                differences, holder = _resume_differences(written, config), path.name
            if differences:
                field, old, new = differences[0]
                more = (
                    f" (and {len(differences) - 1} more: {', '.join(d[0] for d in differences[1:])})"
                    if len(differences) > 1
                    else ""
                )
                flag = "--preset" if field == "preset" else f"--{field.replace('_', '-')}"
                raise EarthmoverError(
                    f"--resume {str(run_dir)!r}: {field} = {new!r} differs from {old!r} in {holder}{more}, which changes what "
                    f"the checkpoint means; resume with the values it was written with, or start a new run from it: "
                    f"earthmover train --config {run_dir / 'config.toml'} --init {path} {flag} {new} --out NEW_DIR"
                )
            if int(state["step"]) > config.run.steps:
                raise EarthmoverError(
                    f"run.steps = {config.run.steps} is below the step of {path.name} ({state['step']}); --steps is the "
                    f"run's total, so pass --steps {int(state['step']) + 1} or more to continue"
                )
        checks.output_dir(run_dir, "--resume")
        if (run_dir / "checkpoints").is_dir():
            checks.output_dir(run_dir / "checkpoints", "--resume checkpoints folder")
    else:
        config = build_config(args)
        run_dir = Path(args.out) if args.out else default_run_dir(config)
        checks.output_dir(run_dir, "--out")
        if ckpt.list_checkpoints(run_dir):
            raise EarthmoverError(
                f"--out {str(run_dir)!r} already holds a run; continue it with --resume {run_dir} or pick a new --out"
            )
        if args.init:
            checks.input_file(args.init, "--init", "checkpoint file from a run's checkpoints/ folder")
            init_state = ckpt.load_checkpoint(args.init)
    check_data_name(config)
    from earthmover.metrics.defaults import check_eval_metrics

    check_eval_metrics(config.run.eval_metrics)
    from earthmover.train.trackers import check_loggers

    check_loggers(config.run.log)  # a missing wandb/mlflow package: one line naming the extra, before training
    ctx = init_from_environment(config.run.device)
    device = checks.resolve_device(config.run.device, ctx)
    check_training_memory(config, _sample_shape(config), device, ctx.world_size)

    trainer = None
    try:
        try:
            trainer = Trainer(config, run_dir, quiet=args.quiet or not ctx.is_main, context=ctx)
            if state is not None:
                trainer.load_state_dict(state)
            elif init_state is not None:
                _load_weights(trainer, init_state, args.init)
        except RuntimeError as exc:
            _raise_if_out_of_memory(exc, config)
            raise
        # everything is loaded and known to fit: from here on the run directory may change
        if ctx.is_main:
            for bad, reason in skipped:
                moved = ckpt.reject_checkpoint(bad)
                print(f"earthmover: skipped {bad.name}, moved to {moved.parent.name}/ ({reason})", file=sys.stderr)
            if state is not None:
                print(f"resuming {run_dir} from {path.name} (step {trainer.step} of {config.run.steps})")
            elif args.resume:
                print(f"{run_dir} has no checkpoint yet; starting it from step 0")
            elif not args.quiet:
                print(
                    f"training {config.preset} on {config.data.name} for {config.run.steps} steps "
                    f"(global batch {config.data.batch_size}{f' over {ctx.world_size} processes' if ctx.enabled else ''}, "
                    f"device {trainer.device}) -> {run_dir}"
                    + (f", from the weights of {args.init}" if init_state is not None else "")
                )
        try:
            summary = trainer.fit()
        except EarthmoverError as exc:
            last = ckpt.list_checkpoints(run_dir)
            if last:
                raise EarthmoverError(f"{exc} (last good checkpoint: {last[-1]})") from None
            raise
        except RuntimeError as exc:
            _raise_if_out_of_memory(exc, config)
            raise
        if ctx.is_main:
            if summary.interrupted:
                print(
                    f"stopped at step {summary.step}; checkpoint written. Continue with: earthmover train --resume {run_dir}"
                )
            else:
                print(summary.line())
            print(generator_line(config, run_dir))
        ctx.barrier()  # rank 0 writes the last checkpoint and plots: leave the process group together
    finally:
        # The DDP wrappers hold the process group; free them before destroying it, while the
        # interpreter is whole (gloo's threads otherwise die at exit: "terminate called", SIGABRT).
        del trainer
        gc.collect()
        shutdown()
    return INTERRUPTED if summary.interrupted else 0


def generator_line(config, run_dir: Path) -> str:
    """Which generator the run's measures and pictures came from, and where the pictures are."""
    from earthmover.train.ema import describe_generator

    samples = run_dir / "samples"
    pictures = [p.name for p in (samples / "final.png", samples / "training.gif") if p.is_file()]
    where = f"; pictures in {samples}{os.sep} ({', '.join(pictures)})" if pictures else ""
    return f"measured and drawn: the {describe_generator(config.model.ema)}{where}"


# Exit status of a run stopped by SIGINT or SIGTERM after writing its checkpoint (README: exit statuses).
INTERRUPTED = 3


def _raise_if_out_of_memory(exc: RuntimeError, config) -> None:
    """The memory estimate is a lower bound: an allocator failure it missed is still one line."""
    text = str(exc)
    if "can't allocate memory" in text or "out of memory" in text.lower() or "not enough memory" in text:
        first = text.strip().splitlines()[0] if text.strip() else ""
        detail = first.split("DefaultCPUAllocator:", 1)[-1].strip()[:160]
        raise EarthmoverError(
            f"out of memory with data.batch_size = {config.data.batch_size} and model.width = {config.model.width or 'auto'} "
            f"({detail}); lower --batch-size or --width"
        ) from None


def _load_weights(trainer, state: dict, source: str) -> None:
    """--init: the networks (and EMA) of a checkpoint; optimizers, step and random streams start fresh."""
    try:
        trainer.load_networks(state)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise EarthmoverError(
            f"--init {source!r} does not fit this run's networks ({str(exc).strip().splitlines()[0][:160]}); "
            f"keep the architecture of the run that wrote it (model.arch, model.width, model.depth, data shape)"
        ) from None


def check_run_dir(run: str | Path, flag: str) -> Path:
    """A folder that a train run wrote (it holds config.toml)."""
    run_dir = Path(run)
    if not (run_dir / "config.toml").is_file():
        what = "a file" if run_dir.is_file() else ("a folder without config.toml" if run_dir.is_dir() else "missing")
        raise EarthmoverError(
            f"{flag} {str(run_dir)!r} is not a run directory ({what}); pass the DIR a train run wrote"
        )
    return run_dir


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
    from earthmover.train.state import load_sampler

    run_dir = check_run_dir(args.run, "--run")
    if args.png_dir:  # the PNG folder export lives in train/png_samples.py
        return _sample_pngs(args, run_dir)
    if args.out:
        out = checks.output_file(args.out, "--out", example="sampled.png")
        if not out.suffix:
            out = out.with_name(out.name + ".png")  # what matplotlib writes: say so
            checks.output_file(out, "--out", example="sampled.png")
    else:
        out = checks.output_file(run_dir / "samples" / "sampled.png", "--run", create_parents=True)
    npz = None
    if args.npz:
        npz = checks.output_file(args.npz, "--npz", example="samples.npz")
        if npz.suffix != ".npz":
            npz = npz.with_name(npz.name + ".npz")  # what numpy writes: say so
            checks.output_file(npz, "--npz", example="samples.npz")
    sampler = load_sampler(run_dir, args.checkpoint, use_ema=not args.no_ema)
    shape = getattr(sampler, "sample_shape", None)
    if shape:
        checks.check_memory(
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


def _sample_pngs(args: argparse.Namespace, run_dir) -> int:
    from earthmover.train import png_samples
    from earthmover.train.state import load_sampler

    if args.per_label or args.code_sweep or args.out or args.npz:
        raise EarthmoverError(
            "--png-dir writes plain samples (optionally one --label); drop --per-label, "
            "--code-sweep, --out and --npz, or run sample twice"
        )
    out = png_samples.check_png_dir(args.png_dir, args.n, args.overwrite)
    sampler = load_sampler(run_dir, args.checkpoint, use_ema=not args.no_ema)
    png_samples.write_pngs(sampler, out, args.n, args.seed, args.label, args.overwrite, args.truncation)
    print(f"wrote {args.n} PNG files to {out} from the {sampler.generator_label}")
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
            from earthmover.conditional.labels import grid_labels

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
    out = checks.output_file(run_dir / "plots" / "losses.png", "report", create_parents=True)
    records = read_metrics(run_dir)
    if not records:
        raise EarthmoverError(
            f"{str(run_dir / 'metrics.jsonl')!r} holds no readable records; pass a run that logged at least one step"
        )
    out = plotting.training_curves(records, out, title=str(args.run))
    print(f"wrote {out}")
    return 0
