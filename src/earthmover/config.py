"""One run's configuration: dataclasses, TOML in and out, overrides, validation.

Precedence, lowest first: the field defaults here < the preset named by
``preset`` (see :mod:`earthmover.presets`) < a TOML config file < CLI flags.
The resolved configuration is written into the run directory as ``config.toml``;
``earthmover train --config that/config.toml`` reproduces the run.

Every field can be set from the command line as ``--section.field VALUE``
(for example ``--optim.lr-d 2e-4`` or ``--penalty.gp 10``); the most common
have short forms (``--steps``, ``--seed``, ``--data``, ``--batch-size``, ...).
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from earthmover.errors import EarthmoverError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class RunConfig:
    seed: int = 0
    steps: int = 2000
    """Total generator steps of the run (also when resuming)."""
    device: str = "auto"
    """auto | cpu | cuda | mps"""
    amp: str = "none"
    """none | bf16 | fp16 (fp16 uses a grad scaler); CUDA only."""
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    on_nan: str = "stop"
    """stop | rollback: on a non-finite loss, stop (keeping the last good checkpoint) or roll back to it and continue with the learning rates times rollback_lr_factor."""
    rollback_lr_factor: float = 0.5
    eval_every: int = 0
    """Evaluate metrics on the EMA generator every N steps (0 = only at the end for toy data)."""
    eval_metrics: str = ""
    """Comma-separated metrics for image data during training, e.g. "fid,kid" (uses the digit features)."""
    eval_n: int = 2000
    measure_n: int = 2500
    """Samples for the toy measures (modes, high quality, EMD to data) at the end of a run."""
    threads: int = 0
    """torch CPU threads (0 = PyTorch's default)."""


@dataclass
class DataConfig:
    name: str = "25gaussians"
    """A toy distribution (8gaussians, 25gaussians, swissroll, ring, checkerboard, parallel-lines) or an image source (mnist, digits, a .npz/.npy/IDX path, an image folder, torchvision:NAME, a URL)."""
    batch_size: int = 256
    """The global batch (split across processes under torchrun)."""
    image_size: int = 0
    """Resize images to this side (0 = the data's own)."""
    channels: int = 0
    """Convert images to 1 or 3 channels (0 = the data's own)."""
    limit: int = 0
    """Use only the first N images (0 = all)."""
    skip_bad: bool = False
    """Image folders: skip unreadable files and say how many (false = stop at the first, naming it)."""


@dataclass
class ModelConfig:
    arch: str = "auto"
    """auto (mlp for toy data, dcgan for images) or a name in earthmover.nets.registry.ARCHITECTURES:
    mlp, dcgan, wgan-gp-mnist, resnet, fig2-baseline, fig2-constant-filters, fig2-mlp-g, fig2-no-norm,
    fig2-gated, fig2-tanh, fig2-resnet"""
    latent_dim: int = 0
    """0 = auto: 2 for toy data, 100 for images."""
    width: int = 0
    """Hidden units (mlp) or base channels (dcgan); 0 = auto: 512 and 64."""
    depth: int = 0
    """Hidden layers of the mlp, weight layers of fig2-resnet; 0 = the architecture's default (3, 101)."""
    critic_norm: str = "none"
    """none | layer | batch (batch couples samples: not with gradient penalties)."""
    dropout: float = 0.0
    """Dropout in the critic (the consistency term needs it)."""
    ema: float = 0.0
    """Decay of the exponential moving average of the generator weights (0 = off)."""


@dataclass
class ObjectiveConfig:
    name: str = "wasserstein"
    """minimax | non-saturating | least-squares | wasserstein | hinge | energy | loss-sensitive"""
    margin: float = 1.0
    """EBGAN's margin m, in the energy's units (squared reconstruction error per element)."""
    pt_weight: float = 0.1
    """EBGAN's pulling-away term weight."""
    a: float = 0.0
    b: float = 1.0
    c: float = 1.0
    lam: float = 1.0
    """Loss-sensitive GAN's lambda."""
    margin_scale: float = 2.4576
    """Loss-sensitive GAN's Delta = margin_scale x mean absolute difference per element."""


@dataclass
class PenaltyConfig:
    gp: float = 0.0
    """Gradient penalty weight lambda (0 = off)."""
    gp_target: float = 1.0
    gp_one_sided: bool = False
    gp_points: str = "between"
    """between (real and fake) | near-data"""
    r1: float = 0.0
    r2: float = 0.0
    dragan: float = 0.0
    consistency: float = 0.0
    """CT-GAN's lambda_2 (0 = off)."""
    consistency_margin: float = 0.0
    every: int = 1
    """Lazy regularization: apply the penalties every k critic steps, scaled by k."""


@dataclass
class ConstraintConfig:
    clip: float = 0.0
    """Clip every critic weight to [-c, c] after each critic step (0 = off)."""
    spectral_norm: bool = False


@dataclass
class OptimConfig:
    name: str = "adam"
    """adam | rmsprop"""
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    n_critic: int = 5
    lr_decay: str = "none"
    """none | linear (to 0 at the last step)."""


@dataclass
class Config:
    preset: str = "quickstart"
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    penalty: PenaltyConfig = field(default_factory=PenaltyConfig)
    constraint: ConstraintConfig = field(default_factory=ConstraintConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    @classmethod
    def from_preset(cls, name: str = "quickstart", **values) -> "Config":
        """The library defaults with a preset's values applied, then ``values`` given as
        ``section__field=value`` (e.g. ``Config.from_preset("wgan-gp", data__name="8gaussians")``)."""
        from earthmover.presets import preset_values

        config = cls(preset=name)
        for dotted, value in preset_values(name).items():
            config.set(dotted, value)
        for key, value in values.items():
            config.set(key.replace("__", "."), value)
        return config

    # ------------------------------------------------------------------ conversion
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        config = cls()
        config.update(data)
        return config

    def update(self, data: dict[str, Any]) -> None:
        """Set fields from a nested dict ({section: {field: value}}), checking names and types."""
        for key, value in data.items():
            if key == "preset":
                self.preset = _coerce("preset", value, str)
                continue
            section = getattr(self, key, None) if key in SECTIONS else None
            if section is None:
                owners = [f for f in all_fields() if f.split(".", 1)[1] == key.replace("-", "_")]
                hint = (f"; did you mean {owners[0]!r} (put it under [{owners[0].split('.')[0]}])?" if owners
                        else _suggest(key, ['preset', *SECTIONS]))
                raise EarthmoverError(f"unknown config section {key!r}{hint}")
            if not isinstance(value, dict):
                raise EarthmoverError(f"config section {key!r} must be a table of fields, got {value!r}")
            for name, v in value.items():
                self.set(f"{key}.{name}", v)

    def set(self, dotted: str, value: Any) -> None:
        """Set one field by its dotted name, e.g. ``config.set("optim.lr_d", 2e-4)``."""
        section_name, _, name = dotted.partition(".")
        name = name.replace("-", "_")
        if section_name not in SECTIONS or not name:
            raise EarthmoverError(f"unknown config field {dotted!r}{_suggest(dotted, all_fields())}")
        section = getattr(self, section_name)
        types = {f.name: f.type for f in fields(section)}
        if name not in types:
            raise EarthmoverError(f"unknown config field {dotted!r}{_suggest(f'{section_name}.{name}', all_fields())}")
        setattr(section, name, _coerce(dotted, value, _TYPES[types[name]]))

    def get(self, dotted: str) -> Any:
        section_name, _, name = dotted.partition(".")
        return getattr(getattr(self, section_name), name.replace("-", "_"))

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


SECTIONS = ("run", "data", "model", "objective", "penalty", "constraint", "optim")
_TYPES = {"int": int, "float": float, "str": str, "bool": bool, int: int, float: float, str: str, bool: bool}


def all_fields() -> list[str]:
    config = Config()
    return [f"{s}.{f.name}" for s in SECTIONS for f in fields(getattr(config, s))]


def _suggest(name: str, choices) -> str:
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {match[0]!r}?" if match else ""


def _coerce(name: str, value: Any, kind: type) -> Any:
    """Parse CLI strings and check TOML values against the field's type."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str:
        if isinstance(value, str):
            return value
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[kind]
    raise EarthmoverError(f"{name} must be {expected}, got {value!r}")


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        raise EarthmoverError(f"config file {str(path)!r} is a folder; pass the path of a TOML file such as a run's config.toml")
    if not path.is_file():
        raise EarthmoverError(f"config file {str(path)!r} does not exist; pass the path of a TOML file such as a run's config.toml")
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise EarthmoverError(f"config file {str(path)!r} is not valid TOML (byte {exc.object[exc.start]:#04x} on line {line} "
                              f"is not UTF-8); save it as UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise EarthmoverError(f"config file {str(path)!r} is not valid TOML ({exc}); fix the line it names") from None


# ---------------------------------------------------------------------- validation

_CHOICES = {
    "run.device": ("auto", "cpu", "cuda", "mps"),
    "run.amp": ("none", "bf16", "fp16"),
    "run.on_nan": ("stop", "rollback"),
    "model.critic_norm": ("none", "layer", "batch"),
    "penalty.gp_points": ("between", "near-data"),
    "optim.name": ("adam", "rmsprop"),
    "optim.lr_decay": ("none", "linear"),
}


def validate(config: Config) -> Config:
    """Check every value a user can set; raise EarthmoverError naming the field and the allowed range."""
    from earthmover.objectives import OBJECTIVES
    from earthmover.presets import PRESETS

    def need(ok: bool, dotted: str, expected: str) -> None:
        if not ok:
            raise EarthmoverError(f"{dotted} = {config.get(dotted)!r} is invalid; expected {expected}")

    if config.preset not in PRESETS:
        raise EarthmoverError(f"unknown preset {config.preset!r}; expected one of {', '.join(PRESETS)}{_suggest(config.preset, PRESETS)}")
    from earthmover.nets.registry import ARCHITECTURES

    for dotted, choices in {**_CHOICES, "model.arch": ("auto", *ARCHITECTURES)}.items():
        value = config.get(dotted)
        if value not in choices:
            raise EarthmoverError(f"{dotted} = {value!r} is invalid; expected one of {', '.join(choices)}{_suggest(str(value), choices)}")
    if config.objective.name not in OBJECTIVES:
        raise EarthmoverError(
            f"objective.name = {config.objective.name!r} is invalid; expected one of {', '.join(OBJECTIVES)}{_suggest(config.objective.name, OBJECTIVES)}"
        )
    for dotted in ("run.steps", "run.log_every", "run.sample_every", "run.checkpoint_every", "run.keep_checkpoints",
                   "run.eval_n", "run.measure_n", "data.batch_size", "optim.n_critic", "penalty.every"):
        need(config.get(dotted) >= 1, dotted, "an integer >= 1")
    for dotted in ("run.seed", "run.eval_every", "run.threads", "data.image_size", "data.channels", "data.limit",
                   "model.depth", "model.latent_dim", "model.width"):
        need(config.get(dotted) >= 0, dotted, "an integer >= 0")
    need(config.data.channels in (0, 1, 3), "data.channels", "0 (the data's own), 1 or 3")
    for dotted in ("optim.lr_g", "optim.lr_d"):
        need(math.isfinite(config.get(dotted)) and config.get(dotted) > 0, dotted, "a learning rate > 0")
    for dotted in ("optim.beta1", "optim.beta2", "model.ema"):
        need(0 <= config.get(dotted) < 1, dotted, "a value in [0, 1)")
    need(0 <= config.model.dropout < 1, "model.dropout", "a value in [0, 1)")
    need(0 < config.run.rollback_lr_factor < 1, "run.rollback_lr_factor", "a value in (0, 1)")
    for dotted in ("penalty.gp", "penalty.r1", "penalty.r2", "penalty.dragan", "penalty.consistency",
                   "penalty.consistency_margin", "penalty.gp_target", "constraint.clip", "objective.margin",
                   "objective.pt_weight", "objective.lam", "objective.margin_scale"):
        value = config.get(dotted)
        need(math.isfinite(value) and value >= 0, dotted, "a finite value >= 0")
    if config.penalty.consistency and not config.model.dropout:
        raise EarthmoverError("penalty.consistency needs dropout in the critic; set model.dropout (CT-GAN uses 0.5)")
    if config.model.critic_norm == "batch" and (config.penalty.gp or config.penalty.dragan or config.penalty.r1 or config.penalty.r2):
        raise EarthmoverError(
            "model.critic_norm = 'batch' couples samples, which breaks per-sample gradient penalties; use 'layer' or 'none'"
        )
    return config
