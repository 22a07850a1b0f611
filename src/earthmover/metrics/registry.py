"""The metrics a run or ``earthmover eval`` can name (``--run.eval-metrics fid,kid``), in one registry.

A :class:`Metric` declares its name, what it needs and its computation. ``needs`` is drawn from
``"features"`` (the samples' features, always extracted), ``"reference"`` (the reference set's
features), ``"probs"`` (the extractor's class probabilities) and ``"samples"`` (the generated images
themselves, ``[-1, 1]`` NCHW); :class:`~earthmover.metrics.evaluate.Evaluator` provides exactly what
the chosen metrics need and loops over them, never asking a metric's name. A plug-in adds one::

    @METRICS.register("mean-brightness")
    def _(x: MetricInputs) -> list[MetricResult]: ...      # or METRICS.register(name, Metric(...))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

from earthmover.errors import EarthmoverError
from earthmover.metrics.coverage import class_coverage
from earthmover.metrics.features import Extracted
from earthmover.metrics.fid import fid as fid_fn
from earthmover.metrics.inception_score import inception_score
from earthmover.metrics.kid import kid as kid_fn
from earthmover.metrics.precision_recall import precision_recall
from earthmover.metrics.result import MetricResult
from earthmover.registry import Registry

NEEDS = ("features", "reference", "probs", "samples")


@dataclass(frozen=True)
class MetricInputs:
    """What a metric's computation receives: only what its ``needs`` asked for is filled in."""

    fake: Extracted
    """Features (and probabilities when asked) of the generated samples."""
    reference: Extracted | None
    """Features of the reference set (None unless the metric needs "reference")."""
    samples: Tensor | None
    """The generated images, [-1, 1] NCHW (None unless the metric needs "samples")."""
    common: dict[str, Any]
    """Provenance for :class:`MetricResult`: features, reference, extractor_id."""
    options: dict[str, Any] = field(default_factory=dict)
    """The evaluator's settings: kid_subsets, kid_subset_size, is_splits, seed."""

    def result(self, name: str, value: float, n_reference: int = 0, **kwargs) -> MetricResult:
        """A :class:`MetricResult` with this evaluation's provenance (reference "none" when n_reference is 0)."""
        common = self.common if n_reference else self.common | {"reference": "none"}
        return MetricResult(name, float(value), len(self.fake.features), n_reference, **(common | kwargs))

    @property
    def ref(self) -> np.ndarray:
        """The reference features; a metric that reads them declares the need "reference"."""
        if self.reference is None:
            raise ValueError('this metric reads the reference features but does not declare needs=("reference",)')
        return self.reference.features

    @property
    def probs(self) -> np.ndarray:
        """The samples' class probabilities; a metric that reads them needs an extractor with a classifier."""
        if self.fake.probs is None:
            raise ValueError("this metric reads class probabilities, which the feature extractor does not give")
        return self.fake.probs


@dataclass(frozen=True)
class Metric:
    """One registered metric."""

    name: str
    compute: Callable[[MetricInputs], list[MetricResult]]
    summary: str = ""
    needs: tuple[str, ...] = ("features",)
    features: tuple[str, ...] = ()
    """The feature extractors it is meaningful on (() = any)."""
    scalars: dict[str, dict[str, str]] = field(default_factory=dict)
    """Extra flat values: {result name: {flat key: key in MetricResult.extra}} (coverage's coverage_kl)."""

    def __post_init__(self):
        bad = [n for n in self.needs if n not in NEEDS]
        if bad:
            raise EarthmoverError(f"metric {self.name!r} needs {bad}; expected some of {', '.join(NEEDS)}")


class MetricRegistry(Registry[Metric]):
    """Entries are :class:`Metric`; registering a bare function makes one that needs features and reference."""

    def _prepare(self, name: str, obj: Any) -> Metric:
        if isinstance(obj, Metric):
            return obj
        return Metric(name, obj, (obj.__doc__ or "").strip().split("\n")[0], needs=("features", "reference"))


METRICS: MetricRegistry = MetricRegistry("metric", "scores of generated samples (--run.eval-metrics, earthmover eval)")


def parse_metrics(metrics: str | Sequence[str]) -> list[str]:
    """The registered metric names of a comma list (or sequence), deduplicated in order."""
    names = [m.strip().lower() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if m.strip()]
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise EarthmoverError(
            f"metrics: unknown {', '.join(bad) or '(none given)'}; expected a comma list of {','.join(METRICS)}"
        )
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------------------------- the built-in metrics


def _fid(x: MetricInputs) -> list[MetricResult]:
    return [x.result("fid", fid_fn(x.fake.features, x.ref), len(x.ref))]


def _kid(x: MetricInputs) -> list[MetricResult]:
    subsets, size = x.options["kid_subsets"], x.options["kid_subset_size"]
    mean, std = kid_fn(x.fake.features, x.ref, subsets, size, x.options["seed"])
    n_ref = len(x.ref)
    sub = min(size, len(x.fake.features), n_ref)
    return [x.result("kid", mean, n_ref, std=std, extra={"subsets": subsets, "subset_size": sub})]


def _is(x: MetricInputs) -> list[MetricResult]:
    mean, std = inception_score(x.probs, x.options["is_splits"])
    return [x.result("is", mean, std=std, extra={"splits": x.options["is_splits"]})]


def _pr(x: MetricInputs) -> list[MetricResult]:
    k = min(len(x.fake.features), len(x.ref))
    p, r = precision_recall(x.ref[:k], x.fake.features[:k], k=3)
    return [
        MetricResult("precision", p, k, k, extra={"k": 3}, **x.common),
        MetricResult("recall", r, k, k, extra={"k": 3}, **x.common),
    ]


def _coverage(x: MetricInputs) -> list[MetricResult]:
    cov = class_coverage(x.probs)
    extra = {"kl_to_uniform": cov.kl_to_uniform, "histogram": cov.histogram, "num_classes": cov.num_classes}
    return [x.result("coverage", float(cov.covered), extra=extra)]


for _metric in (
    Metric("fid", _fid, "Frechet distance between Gaussian fits of the features", ("features", "reference")),
    Metric(
        "kid",
        _kid,
        "kernel inception distance (unbiased MMD^2, cubic kernel), mean and std over subsets",
        ("features", "reference"),
    ),
    Metric("is", _is, "Inception Score over is_splits splits", ("features", "probs")),
    Metric("pr", _pr, "precision and recall of the k=3 nearest-neighbour manifolds", ("features", "reference")),
    Metric(
        "coverage",
        _coverage,
        "digit classes covered by the samples, and the KL of their histogram to uniform",
        ("features", "probs"),
        features=("digits",),
        scalars={"coverage": {"coverage_kl": "kl_to_uniform"}},
    ),
):
    METRICS.register(_metric.name, _metric)
