"""A trained generator taken out of its run: ``earthmover.load(RUN_OR_CHECKPOINT)``.

``load`` accepts a run directory (its newest loadable checkpoint), one checkpoint file of a run
(``RUN/checkpoints/step_*.pt``), or a ``.safetensors`` file written by ``earthmover export``. Checkpoints are
read with ``torch.load(weights_only=True)`` (an unsafe file is refused, as ``--resume`` refuses it);
safetensors files hold no pickle at all. This module sits above ``train`` (it builds networks from a config).
"""

from __future__ import annotations

from pathlib import Path

import torch

from earthmover.errors import EarthmoverError
from earthmover.export.formats import Exported, read_safetensors
from earthmover.nets.progressive import set_stage
from earthmover.train.build import build_generator, build_latent_space, build_plan
from earthmover.train.config import Config
from earthmover.train.ema import describe_generator
from earthmover.train.sampler import Sampler, load_sampler


class TrainedGenerator:
    """A trained generator, ready to sample.

    Attributes:
        module: the generator (``nn.Module``, eval mode): ``module(z)`` or ``module(z, labels)``.
        latent_dim: the width of ``z``.
        num_classes: classes a conditional generator reads (0: unconditional).
        config: the run's :class:`~earthmover.Config`.
        step: the training step of the weights.
    """

    def __init__(self, sampler: Sampler, source: str = ""):
        self._sampler, self.source = sampler, source

    @property
    def module(self) -> torch.nn.Module:
        return self._sampler.generator

    @property
    def latent_dim(self) -> int:
        return self._sampler.latent_dim

    @property
    def num_classes(self) -> int:
        return self._sampler.num_classes

    @property
    def config(self) -> Config:
        return self._sampler.config

    @property
    def step(self) -> int:
        return self._sampler.step

    @property
    def sample_shape(self) -> tuple[int, ...] | None:
        return self._sampler.sample_shape

    @property
    def label(self) -> str:
        """Which weights: ``"EMA generator (decay 0.999)"`` or ``"raw generator"``."""
        return self._sampler.generator_label

    def __repr__(self) -> str:
        return (
            f"TrainedGenerator({self.source!r}, step={self.step}, latent_dim={self.latent_dim}, "
            f"num_classes={self.num_classes}, {self.label})"
        )

    def sample(self, n: int, seed: int = 0, labels=None, truncation: float | None = None) -> torch.Tensor:
        """``n`` samples drawn from ``seed``: the same ones ``earthmover sample --n N --seed SEED`` draws (images
        in [-1, 1], NCHW; toy runs give (n, 2) points). ``labels`` (n,) asks a conditional generator for
        those classes; ``truncation`` redraws latent coordinates beyond that magnitude."""
        return self._sampler.sample(n, seed=seed, truncation=truncation, labels=labels)

    def for_export(self, batch: int = 2) -> Exported:
        """The generator, example inputs and the header that rebuilds it, for :mod:`earthmover.export`."""
        draw = self._sampler.latent.draw(batch, torch.Generator().manual_seed(0))
        inputs = tuple(x.to(self._sampler.device) for x in draw.inputs())
        names = ("z", "labels")[: len(inputs)]
        metadata = {
            "format": 1,
            "architecture": self.config.model.arch,
            "latent_dim": self.latent_dim,
            "num_classes": self.num_classes,
            "sample_shape": list(self.sample_shape or ()),
            "step": self.step,
            "weights": self.label,
            "config": self.config.to_dict(),
        }
        staged = next((m for m in self.module.modules() if hasattr(m, "final_resolution")), None)
        if staged is not None:  # a progressive generator: the stage it samples at
            metadata["stage"] = {
                "resolution": staged.resolution,
                "alpha": staged.alpha,
                "final": staged.final_resolution,
            }
        return Exported(self.module, inputs, names, metadata)


def load(path: str | Path, ema: bool = True, device: str = "cpu") -> TrainedGenerator:
    """The trained generator of a run directory, a checkpoint file, or an exported ``.safetensors`` file.

    Args:
        path: a run directory (newest loadable checkpoint), ``RUN/checkpoints/step_*.pt``, or a safetensors file.
        ema: the EMA weights when the run kept them (as ``earthmover sample`` does), else the raw generator.
        device: where the generator runs.

    Example::

        import earthmover
        gen = earthmover.load("runs/mnist")
        images = gen.sample(16, seed=0)  # (16, 1, 28, 28) in [-1, 1]
    """
    path = Path(path)
    if path.is_dir():
        return TrainedGenerator(load_sampler(path, None, use_ema=ema, device=device), str(path))
    if not path.is_file():
        raise EarthmoverError(
            f"{str(path)!r} does not exist; pass a run directory, a checkpoint from its checkpoints/ folder, "
            f"or a .safetensors file earthmover export wrote"
        )
    if path.suffix == ".safetensors":
        return TrainedGenerator(_from_safetensors(path, device), str(path))
    run_dir = path.parent.parent
    if path.parent.name != "checkpoints" or not (run_dir / "config.toml").is_file():
        raise EarthmoverError(
            f"checkpoint {str(path)!r} is not inside a run's checkpoints/ folder (its config.toml rebuilds the "
            f"networks); pass RUN/checkpoints/step_*.pt or the run directory"
        )
    return TrainedGenerator(load_sampler(run_dir, path, use_ema=ema, device=device), str(path))


def _header_values(path: Path, header) -> tuple[dict, tuple[int, ...], int]:
    """The config, sample shape and class count of an earthmover header, or one line saying what is wrong."""
    try:
        config, shape, num_classes = (
            header["config"],
            tuple(int(d) for d in header["sample_shape"]),
            header["num_classes"],
        )
        if not isinstance(config, dict) or not 0 < len(shape) <= 4 or not isinstance(num_classes, int):
            raise TypeError
        if min(shape) < 1 or num_classes < 0:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise EarthmoverError(
            f"{str(path)!r}: its earthmover header lacks a config, sample_shape or num_classes of the right kind; "
            f"export the run again with earthmover export --format safetensors"
        ) from None
    return config, shape, num_classes


def _from_safetensors(path: Path, device: str) -> Sampler:
    weights, header = read_safetensors(str(path))
    config_values, shape, num_classes = _header_values(path, header)
    config = Config.from_dict(config_values, source=str(path))
    plan = build_plan(config)
    try:
        with torch.device("meta"):  # the shapes the header describes, before any memory is spent on them
            skeleton, _ = build_generator(config, shape, plan, num_classes)
        expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    except EarthmoverError:
        raise
    except Exception:  # a generator the meta device cannot build: load_state_dict below has the last word
        expected = {k: tuple(v.shape) for k, v in weights.items()}
    if expected != {k: tuple(v.shape) for k, v in weights.items()}:
        raise EarthmoverError(
            f"{str(path)!r}: the weights do not fit the generator its header describes "
            f"({len(weights)} tensors there, {len(expected)} expected, or other shapes); export the run again"
        )
    generator, latent_dim = build_generator(config, shape, plan, num_classes)
    stage = header.get("stage")
    if stage:
        set_stage(int(stage["resolution"]), float(stage["alpha"]), generator)
    try:
        generator.load_state_dict(weights)
    except RuntimeError as exc:
        raise EarthmoverError(
            f"{str(path)!r}: the weights do not fit the generator its header describes "
            f"({str(exc).strip().splitlines()[0][:160]}); export the run again"
        ) from None
    generator.to(device).eval()
    latent = build_latent_space(config, latent_dim, plan, num_classes)
    sampler = Sampler(generator, latent, config, device, int(header.get("step", 0)), sample_shape=shape)
    sampler.generator_label = header.get("weights", describe_generator(config.model.ema))
    return sampler
