"""A trained generator, ready to sample (:class:`Sampler`), and the one of a run directory
(:func:`load_sampler`: its config.toml, a checkpoint, the EMA weights when kept)."""

from __future__ import annotations

from pathlib import Path

import torch

from earthmover.data.latent import Draw, LatentSpace
from earthmover.errors import EarthmoverError
from earthmover.nets.progressive import set_stage
from earthmover.train.build import build_generator, build_latent_space, build_plan, resolve_data_shape
from earthmover.train.config import Config, load_toml
from earthmover.train.device import resolve_device
from earthmover.train.ema import describe_generator
from earthmover.train.growth import schedule_of
from earthmover.train.state import latest_loadable_checkpoint, load_checkpoint


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
        generator.load_state_dict(weights)  # type: ignore[arg-type]  # None: the TypeError below reports it
    except (RuntimeError, TypeError, AttributeError) as exc:
        which = checkpoint or "its newest checkpoint"
        detail = next(
            (line.strip() for line in str(exc).splitlines() if "size mismatch" in line or "Missing" in line),
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
        )
        raise EarthmoverError(
            f"checkpoint {str(which)!r} does not fit the networks of {str(run_dir / 'config.toml')!r} "
            f"({detail[:160]}); "
            f"pass --run the run that wrote the checkpoint, or a checkpoint of this run"
        ) from None
    if state.get("growth") and config.model.grow:  # a run stopped mid-growth samples at its stage
        schedule = schedule_of(config, shape[-1])
        schedule.load_state_dict(state["growth"])
        set_stage(schedule.stage.resolution, schedule.stage.alpha, generator)
    generator.to(device).eval()
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
