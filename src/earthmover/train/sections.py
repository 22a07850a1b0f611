"""A run's configuration sections, declared once: the fields of ``run``, ``data``, ``model`` and
``optim`` (dataclasses of :func:`earthmover.registry.param`), and the plug-in sections ``objective``,
``penalty``, ``constraint`` and ``head``, made of the parameters each registered entry declares.

:class:`earthmover.train.config.Config` holds one of each; validation, ``--help`` and TOML read the
declarations here, so adding a field or an entry needs no edit elsewhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# The built-in entries register themselves on import; the sections read their declared parameters.
import earthmover.losses.conditional_heads  # noqa: F401
import earthmover.losses.constraints  # noqa: F401
import earthmover.losses.heads  # noqa: F401
import earthmover.losses.objectives  # noqa: F401
import earthmover.losses.penalties  # noqa: F401
from earthmover import registry
from earthmover.errors import EarthmoverError, did_you_mean
from earthmover.nets.registry import ARCHITECTURES
from earthmover.registry import Param, field_params, param


@dataclass
class RunConfig:
    seed: int = param(0, "The run's seed: initialization, data, latents and penalty points all follow from it", min=0)
    steps: int = param(2000, "Total generator steps of the run (also when resuming)", min=1)
    device: str = param("auto", "auto | cpu | cuda | mps", choices=("auto", "cpu", "cuda", "mps"))
    amp: str = param(
        "none",
        "Mixed precision: none | bf16 | fp16 (fp16 uses a grad scaler); CUDA, or bf16 on a CPU with AVX512-BF16/AMX",
        choices=("none", "bf16", "fp16"),
    )
    log_every: int = param(50, "Log losses every N steps", min=1)
    log: str = param(
        "tensorboard",
        "Experiment trackers beside metrics.jsonl (always written): a comma list of tensorboard, wandb, mlflow "
        '(wandb and mlflow need pip install -e ".[wandb]" / ".[mlflow]"), or none',
    )
    sample_every: int = param(500, "Draw a snapshot (and toy measures) every N steps", min=1)
    checkpoint_every: int = param(1000, "Write a checkpoint every N steps", min=1)
    keep_checkpoints: int = param(3, "Keep the newest N checkpoints", min=1)
    on_nan: str = param(
        "stop",
        "On a non-finite loss: stop (keeping the last good checkpoint) or rollback to it and "
        "continue with the learning rates times rollback_lr_factor",
        choices=("stop", "rollback"),
    )
    rollback_lr_factor: float = param(0.5, "Learning-rate factor applied at each rollback", above=0.0, below=1.0)
    eval_every: int = param(0, "Evaluate metrics on the EMA generator every N steps (0 = only at the end)", min=0)
    eval_metrics: str = param(
        "auto",
        "Image metrics during training, of the EMA generator when model.ema > 0. auto: digit-FID on digit data "
        "(mnist, digits, 1-channel files named *mnist*/*digits*), the standard Inception FID on other images "
        'when its weights are present (else said once and skipped), nothing on toy data; none (or ""): '
        'nothing; a comma list such as "fid,kid": those, on the digit classifier\'s features '
        "(see earthmover.metrics.defaults)",
    )
    eval_n: int = param(2000, "Samples for image metrics", min=1)
    measure_n: int = param(
        2500, "Samples for the toy measures (modes, high quality, EMD to data) at the end of a run", min=1
    )
    threads: int = param(0, "torch CPU threads (0 = PyTorch's default)", min=0)
    accumulate: int = param(
        1,
        "Gradient accumulation: each step's batch as K micro-batches of B/K whose gradients add up to the step's "
        "(less memory; not beside batch norm or a minibatch layer)",
        min=1,
    )


@dataclass
class DataConfig:
    name: str = param(
        "25gaussians",
        "A toy distribution (earthmover.data.toy.TOY_DISTRIBUTIONS), a named image source "
        "(earthmover.data.sources.registry.IMAGE_SOURCES; a wrong name lists them all), "
        "a .npz/.npy/IDX path, folder:PATH or an image folder, or a URL",
    )
    batch_size: int = param(256, "The global batch (split across processes under torchrun)", min=1)
    image_size: int = param(0, "Resize images to this side (0 = the data's own)", min=0)
    channels: int = param(
        0,
        "Convert images to 1 or 3 channels (0 = the data's own)",
        choices=(0, 1, 3),
        expected="0 (the data's own), 1 or 3",
    )
    limit: int = param(0, "Use only the first N images (0 = all)", min=0)
    skip_bad: bool = param(
        False, "Image folders: skip unreadable files and say how many (false = stop at the first, naming it)"
    )


@dataclass
class ModelConfig:
    arch: str = param(
        "auto",
        "auto (mlp for toy data, dcgan for images) or a registered architecture "
        "(earthmover.nets.registry.ARCHITECTURES)",
        choices=lambda: ("auto", *_architectures()),
    )
    latent_dim: int = param(0, "0 = auto: 2 for toy data, 100 for images", min=0)
    width: int = param(0, "Hidden units (mlp) or base channels (dcgan); 0 = auto: 512 and 64", min=0)
    depth: int = param(
        0, "Hidden layers of the mlp, weight layers of fig2-resnet; 0 = the architecture's default (3, 101)", min=0
    )
    critic_norm: str = param(
        "none", "none | layer | batch (batch couples samples: not with penalties)", choices=("none", "layer", "batch")
    )
    dropout: float = param(0.0, "Dropout in the critic (the consistency term needs it)", min=0.0, below=1.0)
    ema: float = param(
        0.0, "Decay of the exponential moving average of the generator weights (0 = off)", min=0.0, below=1.0
    )
    conditional: str = param(
        "none",
        "Condition both networks on the data's class labels: none | concat (Mirza & Osindero: "
        "the label fed to both) | projection (Miyato & Koyama: <embedding(y), features> "
        "added to the critic's score)",
        choices=("none", "concat", "projection"),
    )
    minibatch: str = param(
        "none",
        "A critic layer that looks at the whole minibatch, before its output: none | "
        "discrimination (Salimans et al. 2016) | stddev (Karras et al. 2018)",
        choices=("none", "discrimination", "stddev"),
    )
    minibatch_kernels: int = param(100, "Minibatch discrimination: kernels B (Salimans et al.'s CIFAR-10: 100)", min=1)
    minibatch_kernel_dim: int = param(5, "Minibatch discrimination: dimensions C of each kernel", min=1)
    minibatch_group: int = param(4, "Minibatch standard deviation: samples per group (Karras et al.: 4)", min=2)
    minibatch_with_penalty: bool = param(
        False,
        "Train a minibatch layer beside a per-sample penalty anyway (the layer "
        "couples the samples the penalty treats as independent)",
    )
    grow: bool = param(
        False,
        "Progressive growing (Karras et al. 2018) with model.arch = 'progressive': from "
        "model.grow_start up to the data's side, fading each new block in",
    )
    grow_start: int = param(4, "Progressive growing: the first resolution (a power of two)", min=4)
    grow_fade: int = param(
        800_000, "Progressive growing: real images over which a new block fades in (the paper: 800k)", min=0
    )
    grow_stabilize: int = param(
        800_000, "Progressive growing: real images at each resolution after its fade (the paper: 800k)", min=0
    )
    grow_batch_sizes: str = param(
        "", 'Progressive growing: batch size per resolution, e.g. "4:64,8:64,16:32" (others: data.batch_size)'
    )
    grow_lrs: str = param(
        "",
        'Progressive growing: learning rate of both networks per resolution, e.g. "32:5e-4" '
        "(others: optim.lr_g / optim.lr_d)",
    )
    label_dim: int = param(
        0, "Width of the learned label embedding of concat conditioning and AC-GAN's generator (0 = one-hot)", min=0
    )


def _architectures() -> list[str]:
    return list(ARCHITECTURES)


@dataclass
class AugmentConfig:
    policy: str = param(
        "",
        'Differentiable augmentation of every image the critic sees (DiffAugment), e.g. "translation,cutout,color" '
        '(earthmover.augment.AUGMENTATIONS); "" = off',
    )
    p: float = param(1.0, "Probability that each transform is applied to each image (DiffAugment: 1)", min=0.0, max=1.0)
    target: float = param(
        0.0, "Adaptive p (ADA): the target of r_t = E[sign(D(real))], in (0, 1) (ADA: 0.6); 0 = p fixed", min=0.0
    )
    interval: int = param(4, "Adaptive p: steps between adjustments (ADA: 4)", min=1)
    kimg: float = param(500.0, "Adaptive p: thousands of real images for p to go from 0 to 1 (ADA: 500)", above=0.0)


@dataclass
class OptimConfig:
    name: str = param("adam", "adam | rmsprop", choices=("adam", "rmsprop"))
    lr_g: float = param(1e-4, "Generator learning rate", above=0.0, expected="a learning rate > 0")
    lr_d: float = param(1e-4, "Critic learning rate", above=0.0, expected="a learning rate > 0")
    beta1: float = param(0.0, "Adam beta1", min=0.0, below=1.0)
    beta2: float = param(0.9, "Adam beta2", min=0.0, below=1.0)
    n_critic: int = param(5, "Critic steps per generator step", min=1)
    lr_decay: str = param("none", "none | linear (to 0 at the last step)", choices=("none", "linear"))


@dataclass
class _ObjectiveOwn:
    name: str = param("wasserstein", "The objective (registered objectives)")


@dataclass
class _PenaltyOwn:
    every: int = param(1, "Lazy regularization: apply the penalties every k critic steps, scaled by k", min=1)


@dataclass
class _Empty:
    pass


STATIC_SECTIONS = {
    "run": RunConfig,
    "data": DataConfig,
    "model": ModelConfig,
    "optim": OptimConfig,
    "augment": AugmentConfig,
}
PLUGIN_SECTIONS = {"objective": _ObjectiveOwn, "penalty": _PenaltyOwn, "constraint": _Empty, "head": _Empty}
SECTIONS = ("run", "data", "model", "objective", "penalty", "constraint", "head", "optim", "augment")


class PluginSection:
    """A config section made of the registered entries' parameters (plus the section's own
    fields). Attribute access reads a field (its default when never set)."""

    def __init__(self, section: str):
        object.__setattr__(self, "_section", section)
        object.__setattr__(self, "_values", {})

    @property
    def registry(self) -> registry.ParamRegistry:
        return registry.REGISTRIES[self._section]

    def params(self) -> dict[str, Param]:
        """key -> Param: the section's own fields, then each entry's, in registration order."""
        out = {p.key: p for p in field_params(self._section, PLUGIN_SECTIONS[self._section])}
        for name in self.registry:
            for p in self.registry.params(name):
                if p.key in out and out[p.key].owners:  # an objective field shared by two objectives
                    p = dataclasses.replace(out[p.key], owners=out[p.key].owners + p.owners)
                out[p.key] = p
        return out

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        if key in self._values:  # set, so checked when set: the trainer reads these every step
            return self._values[key]
        params = self.params()
        if key not in params:
            raise AttributeError(f"config section {self._section!r} has no field {key!r}{did_you_mean(key, params)}")
        return self._values.get(key, params[key].default)

    def __setattr__(self, key: str, value: Any) -> None:
        params = self.params()
        if key not in params:
            raise EarthmoverError(f"unknown config field {self._section}.{key!r}{did_you_mean(key, params)}")
        self._values[key] = params[key].coerce(value)

    def is_set(self, key: str) -> bool:
        return key in self._values

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, PluginSection)
            and self._section == other._section
            and {k: getattr(self, k) for k in self.params()} == {k: getattr(other, k) for k in other.params()}
        )

    def __repr__(self) -> str:
        return f"{self._section}({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"

    def enabled(self) -> list[str]:
        """The switched-on entries (penalty, constraint, head sections), in registration order."""
        out = []
        for name, cls in self.registry.items():
            switch = getattr(cls, "switch", None)
            if switch is not None and getattr(self, name):
                out.append(name)
        return out

    def entry_values(self, name: str) -> dict[str, Any]:
        """The parameters of one entry as its dataclass's keyword arguments."""
        return {p.attr: getattr(self, p.key) for p in self.registry.params(name)}

    def applicable(self) -> list[str]:
        """The fields that matter for this run: the section's own; the chosen objective's; every
        switch (off ones too, so a file laid over any preset is exact) and the parameters of the
        switched-on entries."""
        own = [p.key for p in field_params(self._section, PLUGIN_SECTIONS[self._section])]
        if not self.registry.switched:
            return own + ([p.key for p in self.registry.params(self.name)] if self.name in self.registry else [])
        keys = list(own)
        enabled = set(self.enabled())
        for name in self.registry:
            for p in self.registry.params(name):
                if p.switch or name in enabled:
                    keys.append(p.key)
        return keys
