"""Checkpoints: atomic writes, safe loads, the last K kept, and loading a trained generator.

A checkpoint is a plain dict of tensors, numbers and strings, written with
``torch.save`` to a temporary file, flushed, fsynced and renamed into place, so
a process killed at any moment leaves the previous checkpoint intact. It is read
with ``torch.load(weights_only=True)``: a file crafted to run code when
unpickled is refused.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path

import torch

from earthmover.errors import EarthmoverError
from earthmover.odd_paths import refuse_special
from earthmover.train.lock import process_alive
from earthmover.train.run_files import check_checkpoint, checkpoint_write_failed

CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:07d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoints of a run, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(state: dict, path: str | Path, keep: int | None = None) -> Path:
    """Write `state` atomically to `path`; then delete all but the newest `keep` checkpoints beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(".step_*.pt.tmp-*"):  # left by a process killed while writing
        pid = stale.name.rpartition("-")[2]
        if pid != str(os.getpid()) and not (pid.isdigit() and process_alive(int(pid))):  # never another's
            stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        fault = checkpoint_write_failed(path.parent, exc)  # no space / not writable: one line (issue 26)
        if fault is not None:
            raise fault from None
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    if keep:
        for old in list_checkpoints(path.parent.parent)[:-keep]:
            old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint safely (weights_only=True); any failure is one clear EarthmoverError."""
    path = Path(path)
    if path.is_dir():
        raise EarthmoverError(f"checkpoint {str(path)!r} is a folder; pass a file from a run's checkpoints/ folder")
    refuse_special(path, "checkpoint")  # a named pipe would block (issue 26)
    if not path.is_file():
        raise EarthmoverError(f"checkpoint {str(path)!r} does not exist; pass a file from a run's checkpoints/ folder")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols before refusing them
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch says the same for a file crafted to run code and for bytes that are no pickle at all
        detail = str(exc).split("WeightsUnpickler error:", 1)[-1].split("Check the documentation", 1)[0]
        detail = " ".join(detail.split())[:120]
        raise EarthmoverError(
            f"checkpoint {str(path)!r} was refused: it is corrupt or holds objects other than tensors and plain values, "
            f"and nothing in it was run (weights_only loading: {detail}); only load checkpoints earthmover wrote"
        ) from None
    except Exception as exc:  # truncated or corrupt file
        raise EarthmoverError(
            f"checkpoint {str(path)!r} is unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}); "
            f"it may be truncated or corrupt: resume from an earlier checkpoint in the same folder"
        ) from None
    if not isinstance(state, dict) or "step" not in state:
        raise EarthmoverError(
            f"checkpoint {str(path)!r} is not an earthmover checkpoint (no 'step'); pass a file that train wrote"
        )
    check_checkpoint(state, path)  # types, and finite generator weights (issue 26)
    return state


REJECTED = "rejected"


def reject_checkpoint(path: str | Path) -> Path:
    """Move a checkpoint that was refused (unsafe) or unreadable to checkpoints/rejected/, so it no
    longer counts toward run.keep_checkpoints (the good ones would be rotated out in its place) and
    stays there for inspection; returns its new path."""
    path = Path(path)
    folder = path.parent / REJECTED
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    k = 1
    while target.exists():
        target = folder / f"{path.stem}.{k}{path.suffix}"
        k += 1
    os.replace(path, target)
    return target


def latest_loadable_checkpoint(run_dir: str | Path, skipped: list | None = None) -> tuple[Path, dict]:
    """The newest checkpoint of a run that loads; a corrupt (or refused) newest one falls back to
    the one before. Pass a list as `skipped` to receive the (path, reason) of each one passed over."""
    candidates = list_checkpoints(run_dir)
    if not candidates:
        raise EarthmoverError(
            f"no checkpoint in {str(Path(run_dir) / 'checkpoints')!r}; train the run first or pass the right --resume DIR"
        )
    errors = []
    for path in reversed(candidates):
        try:
            return path, load_checkpoint(path)
        except EarthmoverError as exc:
            errors.append(str(exc))
            if skipped is not None:
                skipped.append((path, str(exc)))
    raise EarthmoverError(f"no checkpoint of {str(run_dir)!r} is loadable: {errors[0]}")


class Sampler:
    """A trained generator, ready to sample: ``sampler.sample(n, seed)`` -> samples in data space."""

    def __init__(
        self,
        generator: torch.nn.Module,
        latent: LatentSpace | int,
        config,
        device="cpu",
        step: int = 0,
        sample_shape: tuple[int, ...] | None = None,
    ):
        from earthmover.data.latent import LatentSpace

        self.latent = latent if isinstance(latent, LatentSpace) else LatentSpace(int(latent))
        self.generator, self.config, self.device, self.step = generator, config, device, step
        self.latent_dim = self.latent.dim
        self.sample_shape = sample_shape
        self.generator_label = (
            "generator"  # which weights: "EMA generator (decay 0.999)" or "raw generator" (load_sampler)
        )

    @property
    def num_classes(self) -> int:
        """Classes the generator is conditioned on (0: an unconditional generator)."""
        return self.latent.num_classes

    @torch.no_grad()
    def generate(self, draw: Draw) -> torch.Tensor:
        """The generator's samples for given inputs (z, labels, codes), in float32 on the host."""
        x = self.generator(*draw.to(self.device).inputs()).float().cpu()
        if self.sample_shape and len(self.sample_shape) == 3 and x.shape[-1] < self.sample_shape[-1]:
            # a progressive generator mid-growth: its resolution upscaled (nearest) to the data's
            x = torch.nn.functional.interpolate(x, size=tuple(self.sample_shape[1:]), mode="nearest")
        return x

    @torch.no_grad()
    def sample(
        self,
        n: int,
        seed: int = 0,
        batch_size: int = 1000,
        truncation: float | None = None,
        progress: bool = False,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """n samples from a fixed seed, in batches; with `progress`, a progress bar on stderr when the
        draw takes more than a few batches and stderr is a terminal. ``labels`` (n,) asks a
        conditional generator for those classes (else they are drawn uniformly)."""
        if labels is not None:
            if not self.num_classes:
                raise EarthmoverError(
                    "this run's generator is not conditioned on labels; drop --label/--per-label "
                    "(train with --model.conditional concat or --head.acgan 1 for one that is)"
                )
            labels = torch.as_tensor(labels).long().reshape(-1)
            if len(labels) != n or int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
                raise EarthmoverError(
                    f"labels must be {n} classes in [0, {self.num_classes}); pick --label from 0 to "
                    f"{self.num_classes - 1}"
                )
        g = torch.Generator().manual_seed(seed)
        chunks = []
        starts = range(0, n, batch_size)
        if progress and len(starts) > 20:
            from tqdm.auto import tqdm

            starts = tqdm(starts, total=len(starts), unit="batch", desc=f"sampling {n}", disable=None, leave=False)
        for start in starts:
            m = min(batch_size, n - start)
            chunks.append(
                self.generate(self.latent.draw(m, g, truncation, None if labels is None else labels[start : start + m]))
            )
        return torch.cat(chunks) if chunks else torch.empty(0)


def load_sampler(
    run_dir: str | Path, checkpoint: str | Path | None = None, use_ema: bool = True, device="cpu"
) -> Sampler:
    """The generator of a finished (or interrupted) run, from its config.toml and a checkpoint
    (the newest loadable one by default); the EMA weights when the run kept them and `use_ema`."""
    from earthmover.checks import resolve_device
    from earthmover.config import Config, load_toml
    from earthmover.train.build import build_generator, build_latent_space, build_plan, resolve_data_shape

    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise EarthmoverError(
            f"{str(run_dir)!r} is not a run directory (no config.toml); pass the DIR a train run wrote"
        )
    device = resolve_device(device, name="--device")
    config = Config.from_dict(load_toml(run_dir / "config.toml"))
    state = load_checkpoint(checkpoint) if checkpoint else latest_loadable_checkpoint(run_dir)[1]
    shape = tuple(state["sample_shape"]) if "sample_shape" in state else resolve_data_shape(config)
    plan, num_classes = build_plan(config), int(state.get("num_classes", 0))
    generator, latent_dim = build_generator(config, shape, plan, num_classes)
    weights = state.get("generator")
    used_ema = use_ema and state.get("ema") is not None
    if used_ema:
        weights = {k.removeprefix("module."): v for k, v in state["ema"].items() if k.startswith("module.")}
    try:
        generator.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as exc:
        which = checkpoint or "its newest checkpoint"
        detail = next(
            (line.strip() for line in str(exc).splitlines() if "size mismatch" in line or "Missing" in line),
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
        )
        raise EarthmoverError(
            f"checkpoint {str(which)!r} does not fit the networks of {str(run_dir / 'config.toml')!r} ({detail[:160]}); "
            f"pass --run the run that wrote the checkpoint, or a checkpoint of this run"
        ) from None
    if state.get("growth") and config.model.grow:  # a run stopped mid-growth samples at its stage
        from earthmover.nets.progressive import set_stage
        from earthmover.train.growth import schedule_of

        schedule = schedule_of(config, shape[-1])
        schedule.load_state_dict(state["growth"])
        set_stage(schedule.stage.resolution, schedule.stage.alpha, generator)
    generator.to(device).eval()
    from earthmover.train.ema import describe_generator

    sampler = Sampler(
        generator,
        build_latent_space(config, latent_dim, plan, num_classes),
        config,
        device,
        int(state["step"]),
        sample_shape=shape,
    )
    sampler.generator_label = describe_generator(config.model.ema, used_ema)
    return sampler
