"""Plug-ins: every objective, penalty, constraint and critic head is one registered entry.

An entry is a small frozen dataclass whose fields are its parameters, each declared with
:func:`param` (default, one-line doc, range). From those declarations alone come the
config section (``objective.margin``, ``penalty.gp``, ``penalty.gp_target``, ...), the range
checks of :func:`earthmover.train.config.validate`, the ``--help`` text and the TOML file. Class
attributes declare what the training loop must provide:

* ``needs``: the critic outputs and properties it reads (:data:`CRITIC_NEEDS`), e.g. EBGAN's
  ``("energy", "codes")`` (an auto-encoder critic) or the consistency term's
  ``("features", "dropout")``. The builder wires the critic from these, never from names.
* random draws: penalties draw through the ``generator`` they are given (a ``torch.Generator``
  or a :class:`earthmover.losses.penalties.Shard`), so under torchrun each process receives its slice
  of the numbers one process would draw: the count is derived, never declared by hand.

Penalties, constraints and heads are *switched*: one field (``switch``, a weight or a value
whose zero/false means off) is the config field named after the entry (``penalty.gp``); the
other fields are ``section.<entry>_<field>`` (``penalty.gp_target``). An objective is chosen by
``objective.name`` and its fields are ``objective.<field>``.

Adding a family is one module: define the class, decorate it with ``REGISTRY.register("name")``,
and name the module in ``--plugins`` (or ``EARTHMOVER_PLUGINS``) so the command line and
torchrun's worker processes import it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from earthmover import plugins
from earthmover.errors import EarthmoverError, did_you_mean, unknown

_TYPES = {"int": int, "float": float, "str": str, "bool": bool, int: int, float: float, str: str, bool: bool}


def param(
    default: Any,
    doc: str = "",
    *,
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
    below: float | None = None,
    choices=None,
    expected: str | None = None,
) -> Any:
    """A dataclass field that declares a configurable parameter: its default, a one-line doc
    (shown by ``--help``) and its range: ``min``/``max`` inclusive, ``above``/``below`` exclusive,
    ``choices`` for strings; ``expected`` overrides the range's wording in error messages.
    Floats must also be finite."""
    meta = {
        "doc": doc,
        "min": min,
        "max": max,
        "above": above,
        "below": below,
        "choices": choices,
        "expected": expected,
    }
    return dataclasses.field(default=default, metadata={"earthmover": meta})


@dataclass(frozen=True)
class Param:
    """One configurable value as the config, validation, ``--help`` and TOML see it."""

    section: str
    key: str
    """The name inside its section (``gp_target``); the dotted name is ``section.key``."""
    type: type
    default: Any
    doc: str = ""
    min: float | None = None
    max: float | None = None
    above: float | None = None
    below: float | None = None
    choices: Any = None
    """A tuple, or a function returning one (choices that registries extend)."""
    expected: str | None = None
    owners: tuple = ()
    """The entries this parameter belongs to (empty for a section's own fields)."""
    attr: str = ""
    """The field name inside the owning entry's dataclass (``target`` for ``penalty.gp_target``)."""
    switch: bool = False
    """True for the field that turns a switched entry on (a penalty's weight)."""

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def options(self) -> tuple | None:
        return tuple(self.choices()) if callable(self.choices) else self.choices

    def coerce(self, value: Any, name: str | None = None) -> Any:
        return coerce(name or self.dotted, value, self.type)

    def range_text(self) -> str:
        if self.expected:
            return self.expected
        if self.options:
            return "one of " + ", ".join(map(str, self.options))
        noun = {int: "an integer", float: "a value", bool: "true or false", str: "a string"}[self.type]
        if (
            self.type is float
            and self.max is None
            and self.below is None
            and self.min is not None
            and self.above is None
        ):
            noun = "a finite value"
        lo = f"{'(' if self.above is not None else '['}{_num(self.above if self.above is not None else self.min)}"
        hi = f"{_num(self.below if self.below is not None else self.max)}{')' if self.below is not None else ']'}"
        has_lo = self.min is not None or self.above is not None
        has_hi = self.max is not None or self.below is not None
        if has_lo and has_hi:
            return f"{noun} in {lo}, {hi}"
        if has_lo:
            low = self.above if self.above is not None else self.min
            return f"{noun} {'>' if self.above is not None else '>='} {_num(low)}"
        if has_hi:
            high = self.below if self.below is not None else self.max
            return f"{noun} {'<' if self.below is not None else '<='} {_num(high)}"
        return noun

    def check(self, value: Any) -> None:
        """Raise EarthmoverError naming the field, the value and the allowed range."""
        ok = True
        if self.options is not None:
            if value not in self.options:
                raise EarthmoverError(
                    f"{self.dotted} = {value!r} is invalid; expected {self.range_text()}"
                    f"{did_you_mean(str(value), map(str, self.options))}"
                )
        if self.type in (int, float):
            if self.type is float and not math.isfinite(value):
                ok = False
            elif self.min is not None and value < self.min or self.max is not None and value > self.max:
                ok = False
            elif self.above is not None and value <= self.above or self.below is not None and value >= self.below:
                ok = False
        if not ok:
            raise EarthmoverError(f"{self.dotted} = {value!r} is invalid; expected {self.range_text()}")


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def coerce(name: str, value: Any, kind: type) -> Any:
    """Parse CLI strings and check TOML values against a field's type."""
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


def field_params(
    section: str, cls: type, owners: tuple = (), prefix: str = "", switch: str | None = None
) -> list[Param]:
    """The Params of a dataclass's fields (``param()`` metadata gives doc and range)."""
    out = []
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata.get("earthmover", {}))
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif callable(f.default_factory):
            default = f.default_factory()
        else:
            raise TypeError(f"{cls.__name__}.{f.name} has no default; every declared parameter needs one")
        is_switch = f.name == switch
        key = prefix.rstrip("_") if is_switch else f"{prefix}{f.name}"
        out.append(Param(section, key, _TYPES[f.type], default, owners=owners, attr=f.name, switch=is_switch, **meta))
    return out


# ---------------------------------------------------------------------------------- what a critic can provide


@dataclass(frozen=True)
class Need:
    what: str
    """What it is, for messages."""
    check: Callable[[Any], bool] | None = None
    """For a property of the configuration (dropout): is it satisfied by this config?"""
    fix: str = ""


CRITIC_NEEDS: dict[str, Need] = {
    "score": Need("the critic's raw score"),
    "features": Need("the critic's penultimate features (CriticOutput.features)"),
    "energy": Need("an auto-encoder critic whose score is the reconstruction energy"),
    "codes": Need("the auto-encoder's codes (CriticOutput.features of an auto-encoder critic)"),
    "dropout": Need(
        "dropout in the critic", lambda config: config.model.dropout > 0, "set model.dropout (CT-GAN uses 0.5)"
    ),
}
"""The vocabulary of ``needs``. Every critic provides a score and features; the others are
provided by a head (``HEADS``) that says it ``provides`` them, or by the configuration."""


# ---------------------------------------------------------------------------------- registries


T = TypeVar("T")

KINDS: dict[str, Registry] = {}
"""Every registry by its kind ("objective", "architecture", "metric", ...): the docs, ``--help`` and
plug-in listings enumerate extension points from here, never from a hand-written list."""

_MISSING: Any = object()


class Registry(Generic[T]):
    """Entries of one kind by name: the one mechanism behind every extension point.

    ``register`` works as a decorator or a call::

        ARCHITECTURES = Registry("architecture")

        @ARCHITECTURES.register("mlp")
        def build_mlp(spec): ...

        METRICS.register("fid", Metric(...))

    A lookup of an unknown name raises :class:`~earthmover.errors.EarthmoverError` naming the
    nearest registered name. Registering a name twice is refused unless ``replace=True``.
    """

    def __init__(self, kind: str, doc: str = ""):
        self.kind, self.doc = kind, doc
        self._entries: dict[str, T] = {}
        KINDS[kind] = self

    def register(self, name: str, entry: Any = _MISSING, *, replace: bool = False) -> Any:
        """Register ``entry`` under ``name`` and return it; without ``entry``, a decorator that does."""

        def add(obj: T) -> T:
            if name in self._entries and not replace and self._entries[name] is not obj:
                raise EarthmoverError(
                    f"{self.kind} {name!r} is registered twice; pick another name or pass replace=True"
                )
            obj = self._prepare(name, obj)
            previous = self._entries.get(name, _MISSING)
            self._entries[name] = obj
            try:
                self._check(name)
            except Exception:
                if previous is _MISSING:
                    self._entries.pop(name)
                else:
                    self._entries[name] = previous
                raise
            return obj

        return add if entry is _MISSING else add(entry)

    def _prepare(self, name: str, obj: T) -> T:
        """Hook for subclasses: adapt an entry before it is stored."""
        return obj

    def _check(self, name: str) -> None:
        """Hook for subclasses: validate the registry after ``name`` was stored (raise to undo)."""

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            raise unknown(self.kind, name, self._entries)
        return self._entries[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._entries.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self):
        return self._entries.items()

    def values(self):
        return self._entries.values()


class ParamRegistry(Registry[type[Any]]):
    """A registry of configurable entries (objectives, penalties, constraints, heads): each entry is a
    frozen dataclass whose :func:`param` fields become the config section ``section``."""

    def __init__(self, kind: str, section: str, switched: bool, doc: str = ""):
        super().__init__(kind, doc)
        self.section, self.switched = section, switched

    def _prepare(self, name: str, cls: type) -> type:
        if not dataclasses.is_dataclass(cls):
            cls = dataclass(frozen=True)(cls)
        cls.name = name  # type: ignore[attr-defined]
        switch = getattr(cls, "switch", None)
        if self.switched and switch is not None and switch not in {f.name for f in dataclasses.fields(cls)}:
            raise TypeError(
                f"{self.kind} {name!r}: class attribute `switch` must name one of its fields "
                f"(the weight or value that turns it on)"
            )
        return cls

    def _check(self, name: str) -> None:
        _check_shared_fields(self)

    def params(self, name: str) -> list[Param]:
        """The config fields of one entry."""
        cls = self[name]
        if self.switched:
            return field_params(self.section, cls, (name,), prefix=f"{name}_", switch=getattr(cls, "switch", None))
        return field_params(self.section, cls, (name,))


def _check_shared_fields(registry: ParamRegistry) -> None:
    """Two objectives may share a field name (one config field) only if they agree on its type and default."""
    if registry.switched:
        return
    seen: dict[str, Param] = {}
    for name in registry:
        for p in registry.params(name):
            if p.key in seen and (seen[p.key].type, seen[p.key].default) != (p.type, p.default):
                other = seen[p.key].owners[0]
                raise TypeError(
                    f"{registry.kind} {name!r} declares {p.dotted} with another type or default than "
                    f"{registry.kind} {other!r}; rename the field"
                )
            seen.setdefault(p.key, p)


OBJECTIVES = ParamRegistry("objective", "objective", switched=False)
PENALTIES = ParamRegistry("penalty", "penalty", switched=True)
CONSTRAINTS = ParamRegistry("constraint", "constraint", switched=True)
HEADS = ParamRegistry("head", "head", switched=True)
REGISTRIES = {r.section: r for r in (OBJECTIVES, PENALTIES, CONSTRAINTS, HEADS)}


# ---------------------------------------------------------------------------------- plug-in modules

PLUGINS_ENV = plugins.PLUGINS_ENV


def load_plugins(names: str | list[str] | None = None, recorded_in: str | None = None) -> list[str]:
    """Import plug-in modules named comma-separated (plus those in $EARTHMOVER_PLUGINS); each
    registers its entries on import. Returns the names imported. ``recorded_in`` names the file
    the names come from: then only those the user named again are imported
    (:func:`earthmover.plugins.import_plugins`)."""
    return plugins.import_plugins(names, recorded_in)
