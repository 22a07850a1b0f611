"""Metrics during training and after: one object that holds the reference features and scores samples.

    ev = Evaluator(metrics=["fid", "kid"], features="digits", reference="mnist:test", n=2000)
    scores = ev(lambda m: ema_generator_sample(m))        # {"fid": ..., "kid": ..., "kid_std": ...}
    results = ev.results(sample_fn)                       # [MetricResult, ...] with counts and provenance

``sample_fn(m)`` returns m images as a float tensor in [-1, 1], NCHW. The reference features are
extracted once (and cached on disk for named sets, see metrics.reference).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from earthmover.errors import EarthmoverError
from earthmover.metrics.coverage import class_coverage
from earthmover.metrics.features import EXTRACTORS, Extracted, extract, extractor_id, get_extractor, resize_mode
from earthmover.metrics.fid import fid as fid_fn
from earthmover.metrics.inception_score import inception_score
from earthmover.metrics.kid import kid as kid_fn
from earthmover.metrics.precision_recall import precision_recall
from earthmover.metrics.reference import reference_features
from earthmover.metrics.result import MetricResult

METRICS = ("fid", "kid", "is", "pr", "coverage")
_NEEDS_REFERENCE = {"fid", "kid", "pr"}
_NEEDS_PROBS = {"is", "coverage"}


def parse_metrics(metrics: str | Sequence[str]) -> list[str]:
    names = [m.strip().lower() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if m.strip()]
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise EarthmoverError(
            f"metrics: unknown {', '.join(bad) or '(none given)'}; expected a comma list of {','.join(METRICS)}"
        )
    return list(dict.fromkeys(names))


class Evaluator:
    """Scores ``n`` samples with the chosen metrics against a reference set.

    metrics: subset of fid, kid, is (Inception Score), pr (precision/recall, k=3), coverage (digit classes).
    features: "digits" (fast; 128-d features of our digit classifier, 10-class probabilities) or
    "inception" (the standard FID network; 2048-d). reference: "NAME:SPLIT", a path, or an array
    (see metrics.reference); reference_image_size/channels bring it to the run's data format.
    n_reference: reference images to use (default: all of the split). Precision/recall uses the first
    min(n, n_reference) reference features so that both sets have equal size.
    """

    def __init__(
        self,
        metrics: str | Sequence[str] = ("fid",),
        features: str = "digits",
        reference="mnist:test",
        n: int = 2000,
        n_reference: int | None = None,
        batch_size: int = 100,
        device: str | torch.device = "cpu",
        inception_path: str | None = None,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        is_splits: int = 10,
        seed: int = 0,
        reference_image_size: int | None = None,
        reference_channels: int | None = None,
        resize: str = "legacy-tf",
    ) -> None:
        self.metrics = parse_metrics(metrics)
        if features not in EXTRACTORS:
            raise EarthmoverError(f"features: unknown extractor {features!r}; expected one of {', '.join(EXTRACTORS)}")
        if n < 2:
            raise EarthmoverError(f"n: need at least 2 samples, got {n}")
        if "coverage" in self.metrics and features != "digits":
            raise EarthmoverError("metrics: 'coverage' counts digit classes and needs --features digits")
        self.features, self.reference, self.n, self.n_reference = features, reference, n, n_reference
        self.batch_size, self.kid_subsets, self.kid_subset_size = batch_size, kid_subsets, kid_subset_size
        self.is_splits, self.seed = is_splits, seed
        self.reference_image_size, self.reference_channels = reference_image_size, reference_channels
        self.extractor = get_extractor(features, device=device, inception_path=inception_path, resize=resize)
        if _NEEDS_PROBS & set(self.metrics) and not getattr(self.extractor, "has_probs", False):
            self.extractor.probs(torch.zeros(1, 3, 8, 8))  # raises: this network has no classifier
        self._ref: Extracted | None = None
        self._ref_label = str(reference) if isinstance(reference, str) else "array"

    def reference_features(self) -> Extracted:
        if self._ref is None and _NEEDS_REFERENCE & set(self.metrics):
            self._ref, self._ref_label = reference_features(
                self.reference,
                self.extractor,
                self.n_reference,
                batch_size=self.batch_size,
                image_size=self.reference_image_size,
                channels=self.reference_channels,
            )
        return self._ref

    def score_features(self, fake: Extracted) -> list[MetricResult]:
        """Metrics of already extracted sample features against the reference."""
        ref = self.reference_features()
        n_fake = len(fake.features)
        n_ref = len(ref.features) if ref is not None else 0
        common = dict(features=self.features, reference=self._ref_label, extractor_id=extractor_id(self.extractor))
        out: list[MetricResult] = []
        for m in self.metrics:
            if m == "fid":
                out.append(MetricResult("fid", fid_fn(fake.features, ref.features), n_fake, n_ref, **common))
            elif m == "kid":
                mean, std = kid_fn(fake.features, ref.features, self.kid_subsets, self.kid_subset_size, self.seed)
                sub = min(self.kid_subset_size, n_fake, n_ref)
                out.append(
                    MetricResult(
                        "kid",
                        mean,
                        n_fake,
                        n_ref,
                        std=std,
                        extra={"subsets": self.kid_subsets, "subset_size": sub},
                        **common,
                    )
                )
            elif m == "is":
                mean, std = inception_score(fake.probs, self.is_splits)
                out.append(
                    MetricResult(
                        "is",
                        mean,
                        n_fake,
                        0,
                        std=std,
                        extra={"splits": self.is_splits},
                        **(common | {"reference": "none"}),
                    )
                )
            elif m == "pr":
                k = min(n_fake, n_ref)
                p, r = precision_recall(ref.features[:k], fake.features[:k], k=3)
                out.append(MetricResult("precision", p, k, k, extra={"k": 3}, **common))
                out.append(MetricResult("recall", r, k, k, extra={"k": 3}, **common))
            elif m == "coverage":
                cov = class_coverage(fake.probs)
                extra = {"kl_to_uniform": cov.kl_to_uniform, "histogram": cov.histogram, "num_classes": cov.num_classes}
                out.append(
                    MetricResult(
                        "coverage", float(cov.covered), n_fake, 0, extra=extra, **(common | {"reference": "none"})
                    )
                )
        if resize_mode(self.extractor) == "none":
            return out
        resize = {"resize": resize_mode(self.extractor)}  # the Inception resize mode, in the table and the JSON
        return [dataclasses.replace(r, extra=resize | r.extra) for r in out]

    def results(self, sample_fn: Callable[[int], Tensor]) -> list[MetricResult]:
        want_probs = bool(_NEEDS_PROBS & set(self.metrics))
        fake = extract(self.extractor, sample_fn=sample_fn, n=self.n, batch_size=self.batch_size, want_probs=want_probs)
        return self.score_features(fake)

    def results_for_images(self, images) -> list[MetricResult]:
        want_probs = bool(_NEEDS_PROBS & set(self.metrics))
        return self.score_features(
            extract(
                self.extractor,
                images[: self.n] if len(images) > self.n else images,
                batch_size=self.batch_size,
                want_probs=want_probs,
            )
        )

    def __call__(self, sample_fn: Callable[[int], Tensor]) -> dict[str, float]:
        return flatten(self.results(sample_fn))


def flatten(results: Sequence[MetricResult]) -> dict[str, float]:
    """{'fid': .., 'kid': .., 'kid_std': .., 'is': .., 'is_std': .., 'precision': .., 'recall': .., 'coverage': .., 'coverage_kl': ..}."""
    out: dict[str, float] = {}
    for r in results:
        out[r.name] = float(r.value)
        if r.std is not None:
            out[f"{r.name}_std"] = float(r.std)
        if r.name == "coverage":
            out["coverage_kl"] = float(r.extra["kl_to_uniform"])
    return out


def evaluate(
    samples: Tensor, metrics: str | Sequence[str] = ("fid",), features: str = "digits", reference="mnist:test", **kwargs
) -> dict[str, float]:
    """Score a tensor of samples in [-1, 1] (all of them) in one call; see :class:`Evaluator` for kwargs."""
    ev = Evaluator(metrics, features, reference, n=len(samples), **kwargs)
    return flatten(ev.results_for_images(samples))
