"""`earthmover train`: the config from defaults, preset, file and flags; a new run or a resumed one; the run."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from earthmover import paths
from earthmover.errors import EarthmoverError
from earthmover.train import memory
from earthmover.train.device import resolve_amp, resolve_device
from earthmover.train.lock import RunLock

if TYPE_CHECKING:
    from earthmover.train.config import Config

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
    "--augment": "augment.policy",
}


def register(subparsers) -> None:
    from earthmover.train.config import DEFAULT_PRESET, Config
    from earthmover.train.presets import PRESETS

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

    class SuggestingParser(base):  # type: ignore[valid-type,misc]  # cli.py's parser class, known at run time
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
    from earthmover.train.config import DEFAULT_PRESET, Config, load_toml, validate

    if getattr(args, "config", None):
        paths.input_file(args.config, "--config", "TOML file such as a run's config.toml")
    file_values = load_toml(args.config) if getattr(args, "config", None) else {}
    preset = getattr(args, "preset", None) or file_values.get("preset") or DEFAULT_PRESET
    config = Config(preset, plugins=getattr(args, "plugins", None) or "")
    config.apply({k: v for k, v in file_values.items() if k != "preset"}, source=f"config file {args.config}")
    config.apply({dotted: value for dotted, value in vars(args).items() if "." in dotted and value is not None})
    return validate(config)


def check_data_name(config) -> None:
    """A data name that is no toy distribution, no named image source and no path: one line that lists
    both kinds and suggests the nearest name (the image loader alone knows only the image sources)."""
    import re

    from earthmover.data.sources.registry import IMAGE_SOURCES, named_sources, sources_text
    from earthmover.data.toy import TOY_DISTRIBUTIONS
    from earthmover.errors import did_you_mean

    name = config.data.name
    head = name.partition(":")[0].lower()
    if (
        name in TOY_DISTRIBUTIONS
        or head in IMAGE_SOURCES
        or head == "folder"
        or re.match(r"^(https?|file)://", name, re.I)
        or Path(name).expanduser().exists()
        or "/" in name
        or "\\" in name
        or Path(name).suffix
        or name.startswith(".")
    ):
        return  # the loader names what is wrong with a path, a URL or a split
    hint = did_you_mean(name, [*TOY_DISTRIBUTIONS, *named_sources()]).removeprefix("; ")
    raise EarthmoverError(
        f"data.name = {name!r} is neither a toy distribution nor an image source nor an existing path; "
        f"{hint + ' ' if hint else ''}toy: {', '.join(TOY_DISTRIBUTIONS)}; images: {sources_text()}, folder:PATH, "
        f"a .npz/.npy/IDX file, an image folder or an http(s) URL to an .npz"
    )


def check_training_memory(config, sample_shape, device, world_size: int = 1) -> None:
    """Refuse, before anything is allocated or written, a batch or width the device cannot hold."""
    # one micro-batch's activations are alive at a time: accumulated, the step holds B/K samples' (issue 22)
    per_process = max(1, config.data.batch_size // max(1, world_size) // config.run.accumulate)
    try:
        need = memory.training_memory(config, sample_shape, batch_size=per_process)
    except EarthmoverError:
        raise
    except Exception:  # an architecture the meta device cannot build: the allocator has the last word
        return
    memory.check_memory(
        need,
        f"training with data.batch_size = {config.data.batch_size} and model.width = {config.model.width or 'auto'}",
        "lower --batch-size or --width, or accumulate the batch in micro-batches with --run.accumulate K",
        device,
    )


def _sample_shape(config) -> tuple[int, ...]:
    from earthmover.train.build import resolve_data_shape

    return tuple(resolve_data_shape(config))


@dataclass
class _Start:
    """What a train command starts from: its config and run folder, and a checkpoint to resume
    (`path`, `state`) or weights to start from (`init_state`); `skipped`: unloadable checkpoints."""

    config: Config
    run_dir: Path
    path: Path | None = None
    state: dict | None = None
    init_state: dict | None = None
    skipped: list = field(default_factory=list)


def _resume_start(args: argparse.Namespace) -> _Start:
    """--resume DIR: the run's config with the flags a resume may change, and its newest checkpoint."""
    from earthmover.train.config import Config, load_toml
    from earthmover.train.resume import check_run_dir, checked_resume_state

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
        raise EarthmoverError(f"--config with --resume: a resumed run reads {run_dir / 'config.toml'}; drop --config")
    saved = Config.from_dict(load_toml(run_dir / "config.toml"))
    args.config = str(run_dir / "config.toml")
    start = _Start(build_config(args), run_dir)
    start.path, start.state = checked_resume_state(run_dir, saved, start.config, start.skipped)
    paths.output_dir(run_dir, "--resume")
    if (run_dir / "checkpoints").exists():  # a file there is refused too (issue 26)
        paths.output_dir(run_dir / "checkpoints", "--resume checkpoints folder")
    return start


def _new_start(args: argparse.Namespace) -> _Start:
    """A new run in --out (or a dated folder under runs/), from --init's weights when given."""
    from earthmover.train import state as ckpt
    from earthmover.train.loop import default_run_dir

    config = build_config(args)
    run_dir = Path(args.out) if args.out else default_run_dir(config)
    paths.output_dir(run_dir, "--out")
    if ckpt.list_checkpoints(run_dir):
        raise EarthmoverError(
            f"--out {str(run_dir)!r} already holds a run; continue it with --resume {run_dir} or pick a new --out"
        )
    start = _Start(config, run_dir)
    if args.init:
        paths.input_file(args.init, "--init", "checkpoint file from a run's checkpoints/ folder")
        start.init_state = ckpt.load_checkpoint(args.init)
    return start


def _announce(args, start: _Start, trainer, ctx) -> None:
    """The first lines of a run: skipped checkpoints (moved aside now), and what starts from where."""
    from earthmover.train import state as ckpt

    config, run_dir = start.config, start.run_dir
    for bad, reason in start.skipped:
        moved = ckpt.reject_checkpoint(bad)
        print(f"earthmover: skipped {bad.name}, moved to {moved.parent.name}/ ({reason})", file=sys.stderr)
    if start.state is not None:
        path = start.path.name  # type: ignore[union-attr]  # a start with a state always has its path
        print(f"resuming {run_dir} from {path} (step {trainer.step} of {config.run.steps})")
    elif args.resume:
        print(f"{run_dir} has no checkpoint yet; starting it from step 0")
    elif not args.quiet:
        processes = f" over {ctx.world_size} processes" if ctx.enabled else ""
        print(
            f"training {config.preset} on {config.data.name} for {config.run.steps} steps "
            f"(global batch {config.data.batch_size}{processes}, device {trainer.device}) -> {run_dir}"
            + (f", from the weights of {args.init}" if start.init_state is not None else "")
        )


def run_train(args: argparse.Namespace) -> int:
    """Validate and load everything first (flags, config, data, checkpoint, output folders, memory),
    write last: a command that fails leaves the run directory byte-identical."""
    from earthmover.train import state as ckpt
    from earthmover.train.distributed import init_from_environment, shutdown
    from earthmover.train.loop import Trainer

    start = _resume_start(args) if args.resume else _new_start(args)
    config, run_dir, state, init_state = start.config, start.run_dir, start.state, start.init_state
    check_data_name(config)
    from earthmover.metrics.defaults import check_eval_metrics

    check_eval_metrics(config.run.eval_metrics)
    from earthmover.train.trackers import check_loggers

    check_loggers(config.run.log)  # a missing wandb/mlflow package: one line naming the extra, before training
    ctx = init_from_environment(config.run.device)
    device = resolve_device(config.run.device, ctx)
    resolve_amp(config.run.amp, device)
    check_training_memory(config, _sample_shape(config), device, ctx.world_size)

    trainer = lock = None
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
        # everything is loaded and known to fit: from here on the run directory may change. Take the run's
        # lock before saying anything, so a second `train --resume` is refused before it announces (issue 26)
        if ctx.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            lock = RunLock(run_dir)
            trainer._lock = lock  # the Trainer keeps it through fit() and releases it at the end
            _announce(args, start, trainer, ctx)
        try:
            summary = trainer.fit()
        except EarthmoverError as exc:
            last = ckpt.list_checkpoints(run_dir)
            if last:
                err = EarthmoverError(f"{exc} (last good checkpoint: {last[-1]})")
                err.exit_status = getattr(exc, "exit_status", 2)  # a write fault keeps its own (issue 26)
                raise err from None
            raise
        except RuntimeError as exc:
            _raise_if_out_of_memory(exc, config)
            raise
        if ctx.is_main:
            if summary.interrupted:
                print(
                    f"stopped at step {summary.step}; checkpoint written. Continue with: earthmover train --resume "
                    f"{run_dir}"
                )
            else:
                print(summary.line())
            print(generator_line(config, run_dir))
        ctx.barrier()  # rank 0 writes the last checkpoint and plots: leave the process group together
    finally:
        # The DDP wrappers hold the process group; free them before destroying it, while the
        # interpreter is whole (gloo's threads otherwise die at exit: "terminate called", SIGABRT).
        if lock is not None:
            lock.release()  # fit() released it already, unless the run failed before fit
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
            f"out of memory with data.batch_size = {config.data.batch_size} and model.width = "
            f"{config.model.width or 'auto'} "
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
