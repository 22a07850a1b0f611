"""One run's configuration: sections of declared parameters, TOML in and out, overrides, validation.

Precedence, lowest first: the field defaults here < the preset named by ``preset``
(see :mod:`earthmover.train.presets`) < a TOML config file < CLI flags. ``Config(preset)`` is the
defaults with the preset applied (``Config()`` is the quickstart run that ``earthmover train``
trains); :meth:`Config.apply` lays each further source on top. That is the one place where
"a preset, then overrides" is written.

The sections are declared in :mod:`earthmover.train.sections`: ``run``, ``data``, ``model`` and
``optim`` are dataclasses of declared fields; ``objective``, ``penalty``, ``constraint`` and ``head``
are derived from the registered plug-ins (:mod:`earthmover.registry`): each parameter an entry
declares is a field, with its range and doc, so validation, ``--help`` and TOML need no edit when an entry is added.

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
from pathlib import Path
from typing import Any

import tomli_w

from earthmover import registry
from earthmover.augment import parse_policy
from earthmover.data.toy import TOY_DISTRIBUTIONS
from earthmover.errors import EarthmoverError, did_you_mean, unknown
from earthmover.losses.objectives import make_objective
from earthmover.registry import Param, field_params
from earthmover.train.presets import PRESETS, preset_values
from earthmover.train.sections import (  # noqa: F401  (re-exported: the sections were declared here before)
    PLUGIN_SECTIONS,
    SECTIONS,
    STATIC_SECTIONS,
    AugmentConfig,
    DataConfig,
    ModelConfig,
    OptimConfig,
    PluginSection,
    RunConfig,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_PRESET = "quickstart"


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


class Config:
    """A run's configuration: ``Config(preset)`` is the defaults with that preset applied."""

    # The sections, set in __init__ (declared here for the type checker).
    run: RunConfig
    data: DataConfig
    model: ModelConfig
    optim: OptimConfig
    augment: AugmentConfig
    objective: PluginSection
    penalty: PluginSection
    constraint: PluginSection
    head: PluginSection

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
