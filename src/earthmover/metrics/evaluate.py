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
from earthmover.metrics.features import EXTRACTORS, Extracted, extract, extractor_id, get_extractor, resize_mode
from earthmover.metrics.reference import reference_features
from earthmover.metrics.registry import METRICS, Metric, MetricInputs, parse_metrics
from earthmover.metrics.result import MetricResult

__all__ = ["METRICS", "Evaluator", "evaluate", "flatten", "parse_metrics"]


class Evaluator:
    """Scores ``n`` samples with the chosen metrics against a reference set.

    metrics: subset of fid, kid, is (Inception Score), pr (precision/recall, k=3), coverage (digit classes).
    features: "digits" (fast; 128-d features of our digit classifier, 10-class probabilities) or
    "inception" (the standard FID network; 2048-d). reference: "NAME:SPLIT", a path, or an array
    (see metrics.reference); reference_image_size/channels bring it to the run's data format.
    n_reference: reference images to use (default: all of the split). Precision/recall uses the first
    min(n, n_reference) reference features so that both sets have equal size. progress: progress bars on
    stderr over feature extraction (the reference's, when not cached, and the samples'), shown when stderr
    is a terminal.
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
        progress: bool = False,
    ) -> None:
        self.metrics = parse_metrics(metrics)
        if features not in EXTRACTORS:
            raise EarthmoverError(f"features: unknown extractor {features!r}; expected one of {', '.join(EXTRACTORS)}")
        if n < 2:
            raise EarthmoverError(f"n: need at least 2 samples, got {n}")
        self.entries: list[Metric] = [METRICS[m] for m in self.metrics]
        for entry in self.entries:
            if entry.features and features not in entry.features:
                raise EarthmoverError(
                    f"metrics: {entry.name!r} ({entry.summary}) needs --features {' or '.join(entry.features)}"
                )
        self.features, self.reference, self.n, self.n_reference = features, reference, n, n_reference
        self.batch_size, self.kid_subsets, self.kid_subset_size = batch_size, kid_subsets, kid_subset_size
        self.is_splits, self.seed, self.progress = is_splits, seed, progress
        self.reference_image_size, self.reference_channels = reference_image_size, reference_channels
        self.extractor = get_extractor(features, device=device, inception_path=inception_path, resize=resize)
        if self._needs("probs") and not getattr(self.extractor, "has_probs", False):
            self.extractor.probs(torch.zeros(1, 3, 8, 8))  # raises: this network has no classifier
        self._ref: Extracted | None = None
        self._ref_label = str(reference) if isinstance(reference, str) else "array"

    def _needs(self, what: str) -> bool:
        return any(what in entry.needs for entry in self.entries)

    def reference_features(self) -> Extracted | None:
        """The reference set's features, extracted once (None when no metric needs them)."""
        if self._ref is None and self._needs("reference"):
            self._ref, self._ref_label = reference_features(
                self.reference,
                self.extractor,
                self.n_reference,
                batch_size=self.batch_size,
                image_size=self.reference_image_size,
                channels=self.reference_channels,
                progress=self.progress,
            )
        return self._ref

    def score_features(self, fake: Extracted, samples: Tensor | None = None) -> list[MetricResult]:
        """Metrics of already extracted sample features (and the samples, for metrics that need them)."""
        ref = self.reference_features()
        inputs = MetricInputs(
            fake,
            ref,
            samples,
            dict(features=self.features, reference=self._ref_label, extractor_id=extractor_id(self.extractor)),
            dict(
                kid_subsets=self.kid_subsets,
                kid_subset_size=self.kid_subset_size,
                is_splits=self.is_splits,
                seed=self.seed,
            ),
        )
        out = [result for entry in self.entries for result in entry.compute(inputs)]
        if resize_mode(self.extractor) == "none":
            return out
        resize = {"resize": resize_mode(self.extractor)}  # the Inception resize mode, in the table and the JSON
        return [dataclasses.replace(r, extra=resize | r.extra) for r in out]

    def results(self, sample_fn: Callable[[int], Tensor]) -> list[MetricResult]:
        if self._needs("samples"):  # draw the images once, batch by batch as extraction would, and keep them
            sizes = [min(self.batch_size, self.n - i) for i in range(0, self.n, self.batch_size)]
            return self.results_for_images(torch.cat([sample_fn(m).detach() for m in sizes]))
        fake = extract(
            self.extractor,
            sample_fn=sample_fn,
            n=self.n,
            batch_size=self.batch_size,
            want_probs=self._needs("probs"),
            progress=self._bar(f"{self.n} samples"),
        )
        return self.score_features(fake)

    def results_for_images(self, images) -> list[MetricResult]:
        images = images[: self.n] if len(images) > self.n else images
        fake = extract(
            self.extractor,
            images,
            batch_size=self.batch_size,
            want_probs=self._needs("probs"),
            progress=self._bar(f"{len(images)} samples"),
        )
        return self.score_features(fake, images if self._needs("samples") else None)

    def _bar(self, what: str) -> str | None:
        return f"{self.features} features of {what}" if self.progress else None

    def __call__(self, sample_fn: Callable[[int], Tensor]) -> dict[str, float]:
        return flatten(self.results(sample_fn))


def flatten(results: Sequence[MetricResult]) -> dict[str, float]:
    """{'fid': .., 'kid': .., 'kid_std': .., 'is': .., 'is_std': .., 'precision': .., 'recall': ..,
    'coverage': .., 'coverage_kl': ..}: each value, its std, and the extra scalars its Metric declares."""
    scalars = {name: keys for entry in METRICS.values() for name, keys in entry.scalars.items()}
    out: dict[str, float] = {}
    for r in results:
        out[r.name] = float(r.value)
        if r.std is not None:
            out[f"{r.name}_std"] = float(r.std)
        for key, extra in scalars.get(r.name, {}).items():
            out[key] = float(r.extra[extra])
    return out


def evaluate(
    samples: Tensor, metrics: str | Sequence[str] = ("fid",), features: str = "digits", reference="mnist:test", **kwargs
) -> dict[str, float]:
    """Score a tensor of samples in [-1, 1] (all of them) in one call; see :class:`Evaluator` for kwargs."""
    ev = Evaluator(metrics, features, reference, n=len(samples), **kwargs)
    return flatten(ev.results_for_images(samples))
