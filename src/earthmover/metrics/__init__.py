"""Evaluation: FID, KID, Inception Score, precision/recall and class coverage, with the standard
Inception network (``features="inception"``) or our packaged digit classifier (``features="digits"``).

Metrics are pure functions of feature arrays (float64); :class:`Evaluator` adds extraction, the
reference set and provenance (:class:`MetricResult`).
"""

from earthmover.metrics.coverage import ClassCoverage, class_coverage, code_accuracy
from earthmover.metrics.digits import DigitClassifier
from earthmover.metrics.evaluate import METRICS, Evaluator, evaluate
from earthmover.metrics.features import get_extractor
from earthmover.metrics.fid import fid, frechet_distance, gaussian_stats
from earthmover.metrics.inception import InceptionV3
from earthmover.metrics.inception_score import inception_score
from earthmover.metrics.kid import kid, mmd2_unbiased
from earthmover.metrics.precision_recall import precision_recall
from earthmover.metrics.result import MetricResult

__all__ = [
    "METRICS",
    "ClassCoverage",
    "DigitClassifier",
    "Evaluator",
    "InceptionV3",
    "MetricResult",
    "get_extractor",
    "class_coverage",
    "code_accuracy",
    "evaluate",
    "fid",
    "frechet_distance",
    "gaussian_stats",
    "inception_score",
    "kid",
    "mmd2_unbiased",
    "precision_recall",
]
