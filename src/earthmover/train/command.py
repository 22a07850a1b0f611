"""`earthmover train`, `earthmover sample`, `earthmover report`."""
from __future__ import annotations

import argparse
import gc
import sys
from dataclasses import fields
from pathlib import Path

from earthmover.errors import EarthmoverError

# Short forms of the most used fields.
SHORTCUTS = {
    "--steps": "run.steps", "--seed": "run.seed", "--device": "run.device", "--amp": "run.amp",
    "--checkpoint-every": "run.checkpoint_every", "--keep-checkpoints": "run.keep_checkpoints",
    "--log-every": "run.log_every", "--sample-every": "run.sample_every", "--on-nan": "run.on_nan",
    "--data": "data.name", "--batch-size": "data.batch_size", "--image-size": "data.image_size",
    "--arch": "model.arch", "--width": "model.width", "--ema": "model.ema",
    "--objective": "objective.name", "--n-critic": "optim.n_critic", "--lr-g": "optim.lr_g", "--lr-d": "optim.lr_d",
}


def register(subparsers) -> None:
    from earthmover.config import SECTIONS, Config
    from earthmover.presets import PRESETS

    train = subparsers.add_parser(
        "train", help="train a GAN (default: WGAN-GP on the 25-gaussian grid)",
        description="Train a GAN. Precedence: defaults < --preset < --config file < flags. "
                    "Every config field is a flag --section.field (e.g. --optim.lr-d 2e-4).",
    )
    train.add_argument("--preset", choices=list(PRESETS), help="a paper's defaults (default: wgan-gp)")
    train.add_argument("--config", metavar="TOML", help="a config file, e.g. a run's config.toml")
    train.add_argument("--out", metavar="DIR", help="the run directory (default: runs/<time>-<preset>-<data>)")
    train.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its newest loadable checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    for flag, dotted in SHORTCUTS.items():
        train.add_argument(flag, dest=dotted, default=None, metavar="V", help=f"= --{dotted.replace('_', '-')}")
    config = Config()
    for section in SECTIONS:
        group = train.add_argument_group(f"[{section}]")
        for f in fields(getattr(config, section)):
            dotted = f"{section}.{f.name}"
            default = getattr(getattr(config, section), f.name)
            group.add_argument(f"--{section}.{f.name.replace('_', '-')}", dest=dotted, default=None, metavar="V",
                               help=f"(default {default!r})")
    train.set_defaults(func=run_train)
    _suggest_unknown_flags(train)

    sample = subparsers.add_parser("sample", help="draw samples from a trained run into a PNG (and .npz)")
    sample.add_argument("--run", required=True, metavar="DIR")
    sample.add_argument("--checkpoint", metavar="PATH")
    sample.add_argument("--n", type=int, default=64)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--truncation", type=float, default=None, help="redraw latent coordinates beyond +-t")
    sample.add_argument("--no-ema", action="store_true", help="use the raw generator weights, not the EMA")
    sample.add_argument("--out", metavar="PNG", help="default: DIR/samples/sampled.png")
    sample.add_argument("--npz", metavar="PATH", help="also save the samples as an .npz array")
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
        if arg.startswith("-") and _is_number(arg) and action is not None and action.nargs is None and action.option_strings:
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
    import difflib

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
                    near = difflib.get_close_matches(flag, flags, n=2, cutoff=0.6)
                    hint = f"; did you mean {' or '.join(near)}?" if near else ""
                    self.error(f"unknown flag {flag}{hint} (every config field is a flag --section.field; "
                               f"see earthmover {self.prog.split()[-1]} --help)")
            return namespace, extras

    parser.__class__ = SuggestingParser


def build_config(args: argparse.Namespace):
    """defaults < preset < config file < flags."""
    from earthmover.config import Config, load_toml, validate
    from earthmover.presets import preset_values

    file_values = load_toml(args.config) if getattr(args, "config", None) else {}
    config = Config()
    preset = args.preset or file_values.get("preset") or config.preset
    config.preset = preset
    for dotted, value in preset_values(preset).items():
        config.set(dotted, value)
    try:
        config.update({k: v for k, v in file_values.items() if k != "preset"})
    except EarthmoverError as exc:
        raise EarthmoverError(f"in config file {args.config}: {exc}") from None
    for dotted, value in vars(args).items():
        if "." in dotted and value is not None:
            config.set(dotted, value)
    return validate(config)


def run_train(args: argparse.Namespace) -> int:
    from earthmover.train import state as ckpt
    from earthmover.train.distributed import init_from_environment, shutdown
    from earthmover.train.loop import Trainer, default_run_dir

    if args.resume:
        run_dir = Path(args.resume)
        if not (run_dir / "config.toml").is_file():
            raise EarthmoverError(f"--resume {str(run_dir)!r} is not a run directory (no config.toml); pass the DIR a train run wrote")
        args.config = str(run_dir / "config.toml")
        config = build_config(args)
        if ckpt.list_checkpoints(run_dir):
            skipped: list = []
            path, state = ckpt.latest_loadable_checkpoint(run_dir, skipped)
            for bad, reason in skipped:
                print(f"earthmover: skipped {bad.name}: {reason}", file=sys.stderr)
            if int(state["step"]) > config.run.steps:
                raise EarthmoverError(
                    f"run.steps = {config.run.steps} is below the step of {path.name} ({state['step']}); --steps is the "
                    f"run's total, so pass --steps {int(state['step']) + 1} or more to continue"
                )
        else:  # stopped before its first checkpoint: nothing to lose, start it again
            print(f"{run_dir} has no checkpoint yet; starting it from step 0")
            state = None
    else:
        config = build_config(args)
        run_dir = Path(args.out) if args.out else default_run_dir(config)
        if ckpt.list_checkpoints(run_dir):
            raise EarthmoverError(f"--out {str(run_dir)!r} already holds a run; continue it with --resume {run_dir} or pick a new --out")
        state = None
    ctx = init_from_environment(config.run.device)
    trainer = None
    try:
        trainer = Trainer(config, run_dir, quiet=args.quiet or not ctx.is_main, context=ctx)
        if state is not None:
            trainer.load_state_dict(state)
            if ctx.is_main:
                print(f"resuming {run_dir} from {path.name} (step {trainer.step} of {config.run.steps})")
        elif ctx.is_main and not args.quiet:
            print(f"training {config.preset} on {config.data.name} for {config.run.steps} steps "
                  f"(global batch {config.data.batch_size}{f' over {ctx.world_size} processes' if ctx.enabled else ''}, "
                  f"device {trainer.device}) -> {run_dir}")
        try:
            summary = trainer.fit()
        except EarthmoverError as exc:
            last = ckpt.list_checkpoints(run_dir)
            if last:
                raise EarthmoverError(f"{exc} (last good checkpoint: {last[-1]})") from None
            raise
        if ctx.is_main:
            if summary.interrupted:
                print(f"stopped at step {summary.step}; checkpoint written. Continue with: earthmover train --resume {run_dir}")
            else:
                print(summary.line())
        ctx.barrier()  # rank 0 writes the last checkpoint and plots: leave the process group together
    finally:
        # The DDP wrappers hold the process group; free them before destroying it, while the
        # interpreter is whole (gloo's threads otherwise die at exit: "terminate called", SIGABRT).
        del trainer
        gc.collect()
        shutdown()
    return 0


def run_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from earthmover import plotting
    from earthmover.train.state import load_sampler

    if args.n < 1:
        raise EarthmoverError(f"--n = {args.n} is invalid; expected an integer >= 1")
    sampler = load_sampler(args.run, args.checkpoint, use_ema=not args.no_ema)
    samples = sampler.sample(args.n, seed=args.seed, truncation=args.truncation)
    out = Path(args.out) if args.out else Path(args.run) / "samples" / "sampled.png"
    if samples.dim() == 2:
        plotting.toy_snapshot(_reference(sampler), samples, out,
                              title=f"{args.n} samples at step {sampler.step}")
    else:
        plotting.save_image_grid(samples, out)
    if args.npz:
        np.savez_compressed(args.npz, samples=samples.numpy())
    print(f"wrote {out}" + (f" and {args.npz}" if args.npz else ""))
    return 0


def _reference(sampler):
    from earthmover.data.toy import make_toy
    import torch

    return make_toy(sampler.config.data.name).sample(1000, torch.Generator().manual_seed(0))


def run_report(args: argparse.Namespace) -> int:
    from earthmover import plotting
    from earthmover.train.logging import read_metrics

    records = read_metrics(args.run)
    if not records:
        raise EarthmoverError(f"no metrics.jsonl in {args.run!r}; pass a run directory that train wrote")
    out = plotting.training_curves(records, Path(args.run) / "plots" / "losses.png", title=str(args.run))
    print(f"wrote {out}")
    return 0
