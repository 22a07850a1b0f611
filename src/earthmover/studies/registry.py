"""The studies ``earthmover study NAME`` runs and ``earthmover study all`` reports, in one registry.

A :class:`Study` declares everything the command and the report ask about it: its name, the
report's section title, the claim in one sentence, the paper, why it matters, and three functions:
``run(seed=0, quick=False) -> result`` (a dataclass with ``to_dict()``, ``rows()``, ``summary()``
and optionally ``notes()``), ``checks(result) -> [Check]`` (the numbers against the claim's
thresholds) and ``draw(result, path) -> path`` (the figure). Each study module registers itself;
the report's order is the registration order (the built-ins first, in the order of the argument,
then plug-ins). A plug-in study is one module::

    register(Study("my-study", "Title", "The claim.", "Paper", "Why it matters.", run, checks, draw))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from earthmover.registry import Registry


@dataclass(frozen=True)
class Appendix:
    """An extra table under a study's section (mode-collapse's published figures)."""

    caveat: str
    header: list[str]
    rows: Callable[[dict], list[list[str]]]
    """The table's rows from the study's JSON result (``record["result"]``)."""


@dataclass(frozen=True)
class Study:
    """One registered study."""

    name: str
    title: str
    """The report's section title (the report numbers the sections)."""
    claim: str
    """The claim, one sentence."""
    paper: str
    why: str
    """A paragraph for the report: why the claim matters, what the study measures."""
    run: Callable[..., Any]
    checks: Callable[[Any], list]
    draw: Callable[[Any, Any], Any]
    appendix: Appendix | None = None


STUDIES: Registry[Study] = Registry("study", "reproduced claims: earthmover study NAME, and study all's report")


def register(study: Study, *, replace: bool = False) -> Study:
    """Add a study (built-in modules and plug-ins alike); ``study all`` reports it in registration order."""
    return STUDIES.register(study.name, study, replace=replace)
