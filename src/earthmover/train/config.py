"""One run's configuration: sections of declared parameters, TOML in and out, overrides, validation.

Precedence, lowest first: the field defaults here < the preset named by ``preset``
(see :mod:`earthmover.presets`) < a TOML config file < CLI flags. ``Config(preset)`` is the
defaults with the preset applied (``Config()`` is the quickstart run that ``earthmover train``
trains); :meth:`Config.apply` lays each further source on top. That is the one place where
"a preset, then overrides" is written.

The sections ``run``, ``data``, ``model`` and ``optim`` are dataclasses below. The sections
``objective``, ``penalty``, ``constraint`` and ``head`` are derived from the registered plug-ins
(:mod:`earthmover.registry`): each parameter an entry declares is a field, with its range and
doc, so validation, ``--help`` and TOML need no edit when an entry is added.

The resolved configuration is written into the run directory as ``config.toml``: every field
that the run uses (and every penalty/constraint switch, off ones included), so the file alone
reproduces the run. ``earthmover train --config that/config.toml`` does.

Every field can be set from the command line as ``--section.field VALUE``
(for example ``--optim.lr-d 2e-4`` or ``--penalty.gp 10``); the most common
have short forms (``--steps``, ``--seed``, ``--data``, ``--batch-size``, ...).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The built-in entries register themselves on import; the config reads their declared parameters.
import earthmover.losses.conditional_heads  # noqa: F401
import earthmover.losses.constraints  # noqa: F401
import earthmover.losses.heads  # noqa: F401
import earthmover.losses.objectives  # noqa: F401
import earthmover.losses.penalties  # noqa: F401
from earthmover import registry
from earthmover.augment import parse_policy
from earthmover.data.toy import TOY_DISTRIBUTIONS
from earthmover.errors import EarthmoverError, did_you_mean, unknown
from earthmover.losses.objectives import make_objective
from earthmover.nets.registry import ARCHITECTURES
from earthmover.presets import PRESETS, preset_values
from earthmover.registry import Param, field_params, param

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_PRESET = "quickstart"


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
        "Image metrics during training, of the EMA generator when model.ema > 0. auto: digit-FID on digit data (mnist, digits, 1-channel "
        "files named *mnist*/*digits*), the standard Inception FID on other images when its weights are present "
        '(else said once and skipped), nothing on toy data; none (or ""): nothing; a comma list such as "fid,kid": '
        "those, on the digit classifier's features (see earthmover.metrics.defaults)",
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
class OptimConfig:
    name: str = param("adam", "adam | rmsprop", choices=("adam", "rmsprop"))
    lr_g: float = param(1e-4, "Generator learning rate", above=0.0, expected="a learning rate > 0")
    lr_d: float = param(1e-4, "Critic learning rate", above=0.0, expected="a learning rate > 0")
    beta1: float = param(0.0, "Adam beta1", min=0.0, below=1.0)
    beta2: float = param(0.9, "Adam beta2", min=0.0, below=1.0)
    n_critic: int = param(5, "Critic steps per generator step", min=1)
    lr_decay: str = param("none", "none | linear (to 0 at the last step)", choices=("none", "linear"))


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

# Every config.toml written before plug-ins declared their own parameters lists every field, and
# these with the values below whatever the run used. A parameter of an entry the run does not use
# is an error, except with its default or these values, so such files still load as they were meant.
_LEGACY_VALUES = {
    "objective.margin": 10.0,
    "objective.pt_weight": 0.1,
    "objective.a": 0.0,
    "objective.b": 1.0,
    "objective.c": 1.0,
    "objective.lam": 1.0,
    "objective.margin_scale": 2e-4,
    "penalty.gp_target": 1.0,
    "penalty.gp_one_sided": False,
    "penalty.gp_points": "between",
    "penalty.consistency_margin": 0.0,
}


class PluginSection:
    """A config section made of the registered entries' parameters (plus the section's own
    fields). Attribute access reads a field (its default when never set)."""

    def __init__(self, section: str):
        object.__setattr__(self, "_section", section)
        object.__setattr__(self, "_values", {})

    @property
    def registry(self) -> registry.Registry:
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
        for name, cls in self.registry.items():
            for p in self.registry.params(name):
                if p.switch or name in enabled:
                    keys.append(p.key)
        return keys


class Config:
    """A run's configuration: ``Config(preset)`` is the defaults with that preset applied."""

    def __init__(self, preset: str = DEFAULT_PRESET, plugins: str = ""):
        self.preset = preset
        self.plugins = ""
        if plugins:
            self.load_plugins(plugins)
        for name, cls in STATIC_SECTIONS.items():
            setattr(self, name, cls())
        for name in PLUGIN_SECTIONS:
            setattr(self, name, PluginSection(name))
        self.apply(preset_values(preset))

    @classmethod
    def from_preset(cls, name: str = DEFAULT_PRESET, **values) -> Config:
        """The library defaults with a preset's values applied, then ``values`` given as
        ``section__field=value`` (e.g. ``Config.from_preset("wgan-gp", data__name="8gaussians")``)."""
        return cls(name).apply({key.replace("__", "."): value for key, value in values.items()})

    def apply(self, values: dict[str, Any], source: str = "") -> Config:
        """Lay `values` over this config: dotted names ({"optim.lr_d": 2e-4}) or nested tables
        ({"optim": {"lr_d": 2e-4}}), as a TOML file holds them. Returns self."""
        try:
            for key, value in values.items():
                if key == "preset":
                    self.preset = registry.coerce("preset", value, str)
                elif key == "plugins":  # from a file: imported only if the user named them (issue 26)
                    self.load_plugins(registry.coerce("plugins", value, str), recorded_in="the file")
                elif "." in key:
                    self.set(key, value)
                elif key in SECTIONS:
                    if not isinstance(value, dict):
                        raise EarthmoverError(f"config section {key!r} must be a table of fields, got {value!r}")
                    for name, v in value.items():
                        self.set(f"{key}.{name}", v)
                else:
                    owners = [f for f in all_fields() if f.split(".", 1)[1] == key.replace("-", "_")]
                    hint = (
                        f"; did you mean {owners[0]!r} (put it under [{owners[0].split('.')[0]}])?"
                        if owners
                        else did_you_mean(key, ["preset", "plugins", *SECTIONS])
                    )
                    raise EarthmoverError(f"unknown config section {key!r}{hint}")
        except EarthmoverError as exc:
            if source:
                raise EarthmoverError(f"in {source}: {exc}") from None
            raise
        return self

    def load_plugins(self, names: str, recorded_in: str | None = None) -> None:
        """Import plug-in modules (comma-separated) and remember them, so config.toml names them;
        ``recorded_in``: the file that names them (then the user must have named them too)."""
        loaded = [n for n in self.plugins.split(",") if n]
        loaded += [n for n in registry.load_plugins(names, recorded_in) if n not in loaded]
        self.plugins = ",".join(loaded)

    # ------------------------------------------------------------------ fields
    def section(self, name: str):
        if name not in SECTIONS:
            raise EarthmoverError(f"unknown config section {name!r}{did_you_mean(name, SECTIONS)}")
        return getattr(self, name)

    def params(self) -> dict[str, Param]:
        """dotted name -> Param for every field of every section."""
        out = {}
        for name in SECTIONS:
            section = getattr(self, name)
            ps = section.params().values() if isinstance(section, PluginSection) else field_params(name, type(section))
            out.update({p.dotted: p for p in ps})
        return out

    def set(self, dotted: str, value: Any) -> None:
        """Set one field by its dotted name, e.g. ``config.set("optim.lr_d", 2e-4)``."""
        section_name, _, name = dotted.partition(".")
        name = name.replace("-", "_")
        params = self.params()
        key = f"{section_name}.{name}"
        if key not in params:
            raise EarthmoverError(f"unknown config field {dotted!r}{did_you_mean(key, params)}")
        value = params[key].coerce(value, key)
        section = getattr(self, section_name)
        if isinstance(section, PluginSection):
            section._values[name] = value
        else:
            setattr(section, name, value)

    def get(self, dotted: str) -> Any:
        section_name, _, name = dotted.partition(".")
        name = name.replace("-", "_")
        key = f"{section_name}.{name}"
        params = self.params()
        if key not in params:  # as set() says it, not an AttributeError from the section
            raise EarthmoverError(f"unknown config field {dotted!r}{did_you_mean(key, params)}")
        return getattr(self.section(section_name), name)

    def applicable(self) -> list[str]:
        """The dotted fields that matter for this run (what config.toml holds)."""
        out = []
        for name in SECTIONS:
            section = getattr(self, name)
            keys = (
                section.applicable()
                if isinstance(section, PluginSection)
                else [f.name for f in dataclasses.fields(section)]
            )
            out += [f"{name}.{k}" for k in keys]
        return out

    # ------------------------------------------------------------------ conversion
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"preset": self.preset}
        if self.plugins:
            out["plugins"] = self.plugins
        for dotted in self.applicable():
            section, key = dotted.split(".", 1)
            out.setdefault(section, {})[key] = self.get(dotted)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "") -> Config:
        """A config from nested tables (a config.toml): its preset (and plug-ins) first, then its values."""
        try:
            preset = registry.coerce("preset", data.get("preset", DEFAULT_PRESET), str)
            config = cls(preset)
            recorded = registry.coerce("plugins", data.get("plugins", ""), str)
            config.load_plugins(recorded, recorded_in=source or "the saved config")  # issue 26
        except EarthmoverError as exc:
            raise EarthmoverError(f"in {source}: {exc}" if source else str(exc)) from None
        return config.apply(data, source)

    def update(self, data: dict[str, Any]) -> None:
        """Set fields from a nested dict ({section: {field: value}}), checking names and types."""
        self.apply(data)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    def save(self, path: str | Path) -> None:
        """Write the TOML atomically (a temporary file renamed into place): a run's config.toml is
        never seen half-written, whatever stops the process."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            tmp.write_text(self.to_toml())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def __eq__(self, other) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return self.to_dict() == other.to_dict()  # what the runs use (parameters of unused entries do nothing)

    def __repr__(self) -> str:
        return f"Config({self.to_dict()!r})"


def all_fields() -> list[str]:
    """Every dotted field name, of every section (including every registered entry's)."""
    return list(Config().params())


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise EarthmoverError(
            f"config file {str(path)!r} is a folder; pass the path of a TOML file such as a run's config.toml"
        )
    if not path.is_file():
        raise EarthmoverError(
            f"config file {str(path)!r} does not exist; pass the path of a TOML file such as a run's config.toml"
        )
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise EarthmoverError(
            f"config file {str(path)!r} is not valid TOML (byte {exc.object[exc.start]:#04x} on line {line} "
            f"is not UTF-8); save it as UTF-8 text"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise EarthmoverError(f"config file {str(path)!r} is not valid TOML ({exc}); fix the line it names") from None
    except RecursionError:  # a hostile file: arrays nested thousands deep (issue 26)
        raise EarthmoverError(
            f"config file {str(path)!r} nests tables or arrays too deep to read; it is not a config earthmover wrote"
        ) from None


# ---------------------------------------------------------------------- validation


def validate(config: Config) -> Config:
    """Check every value a user can set (against the ranges its declaration gives), that no
    parameter is set for an entry the run does not use, and that what the entries need is there;
    raise EarthmoverError naming the field, what is expected and the fix."""
    if config.preset not in PRESETS:
        raise unknown("preset", config.preset, PRESETS)
    objective = config.objective.name
    if objective not in registry.OBJECTIVES:
        raise EarthmoverError(
            f"objective.name = {objective!r} is invalid; expected one of "
            f"{', '.join(registry.OBJECTIVES)}{did_you_mean(objective, registry.OBJECTIVES)}"
        )
    params = config.params()
    applicable = set(config.applicable())
    for dotted, p in params.items():
        value = config.get(dotted)
        if dotted in applicable:
            p.check(value)
        elif value != p.default and not (dotted in _LEGACY_VALUES and value == _LEGACY_VALUES[dotted]):
            raise EarthmoverError(_unused_message(config, p, value))

    obj = make_objective(objective, **config.objective.entry_values(objective))
    terms = [(f"penalty.{n}", registry.PENALTIES[n]) for n in config.penalty.enabled()]
    constraints = [(f"constraint.{n}", registry.CONSTRAINTS[n]) for n in config.constraint.enabled()]
    heads = [(f"head.{n}", registry.HEADS[n]) for n in config.head.enabled()]
    for owner, needs in [
        (f"objective {objective!r}", obj.needs),
        *((name, cls.needs) for name, cls in [*terms, *heads]),
    ]:
        for need in needs:
            spec = registry.CRITIC_NEEDS.get(need)
            if spec is None:
                raise EarthmoverError(
                    f"{owner} needs {need!r}, which no critic provides; "
                    f"known critic outputs: {', '.join(registry.CRITIC_NEEDS)}"
                )
            if spec.check is not None and not spec.check(config):
                raise EarthmoverError(f"{owner} needs {spec.what}; {spec.fix}")
    if obj.needs_lipschitz and not any(cls.lipschitz for _, cls in [*terms, *constraints]):
        fixes = [
            f"--{name.replace('_', '-')}"
            for name, cls in [
                *((f"penalty.{n}", c) for n, c in registry.PENALTIES.items()),
                *((f"constraint.{n}", c) for n, c in registry.CONSTRAINTS.items()),
            ]
            if cls.lipschitz
        ]
        raise EarthmoverError(
            f"objective {objective!r} needs a Lipschitz critic, and nothing keeps it so; "
            f"add one of {', '.join(fixes)} (e.g. --penalty.gp 10 as WGAN-GP, or --preset wgan-gp)"
        )
    if config.model.grow and config.model.arch != "progressive":
        raise EarthmoverError(
            f"model.grow needs the progressive networks; set model.arch = 'progressive' "
            f"(model.arch is {config.model.arch!r})"
        )
    if config.model.critic_norm == "batch" and terms:
        raise EarthmoverError(
            f"model.critic_norm = 'batch' couples samples, which breaks per-sample penalties ({terms[0][0]}); "
            f"use 'layer' or 'none'"
        )
    validate_augment_and_accumulate(config)
    return config


def validate_augment_and_accumulate(config: Config) -> None:
    """The augment section (issue 22) and run.accumulate: names, ranges, and where they cannot apply."""
    a = config.augment
    if a.policy:
        parse_policy(a.policy)  # an unknown transform: the nearest registered name
        if config.data.name in TOY_DISTRIBUTIONS:
            raise EarthmoverError(
                f"augment.policy = {a.policy!r} is set, but data.name = {config.data.name!r} is a 2-D toy "
                f"distribution: its samples are points, with no pixels to translate, cut out or recolour; "
                f"drop --augment"
            )
    if a.target and not 0.0 < a.target < 1.0:
        raise EarthmoverError(
            f"augment.target = {a.target!r} is invalid; expected a value in (0, 1) (ADA uses 0.6), or 0 to keep p fixed"
        )
    k, batch = config.run.accumulate, config.data.batch_size
    if batch % k:
        raise EarthmoverError(
            f"run.accumulate = {k} does not divide data.batch_size = {batch}; choose K so that the batch splits "
            f"into K equal micro-batches (a divisor of {batch})"
        )
    if k > 1 and (config.model.critic_norm == "batch" or config.model.minibatch != "none"):
        layer = "batch norm" if config.model.critic_norm == "batch" else f"model.minibatch = {config.model.minibatch!r}"
        raise EarthmoverError(
            f"run.accumulate = {k} is refused beside {layer}: its statistics over micro-batches of B/{k} would "
            f"change what the critic computes; use model.critic_norm 'layer' or 'none', or drop --run.accumulate"
        )


def _unused_message(config: Config, p: Param, value: Any) -> str:
    section = getattr(config, p.section)
    if p.section == "objective":
        chosen = config.objective.name
        takes = [q.key for q in section.registry.params(chosen)] if chosen in section.registry else []
        return (
            f"{p.dotted} = {value!r} is set, but objective {chosen!r} does not use it (it belongs to "
            f"{' and '.join(repr(o) for o in p.owners)}); objective {chosen!r} takes "
            f"{', '.join(f'objective.{k}' for k in takes) or 'no parameters'}: drop {p.dotted} or choose its objective"
        )
    owner = p.owners[0]
    return (
        f"{p.dotted} = {value!r} is set, but {p.section}.{owner} is off, so nothing uses it; "
        f"switch it on with --{p.section}.{owner.replace('_', '-')} or drop {p.dotted} "
        f"(on now: {', '.join(f'{p.section}.{n}' for n in section.enabled()) or 'none'})"
    )
