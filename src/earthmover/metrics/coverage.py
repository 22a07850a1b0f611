"""What a classifier says about generated samples: which classes appear, and whether codes map to classes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from earthmover.errors import EarthmoverError


@dataclass(frozen=True)
class ClassCoverage:
    """``covered``: classes holding at least ``min_share`` of a uniform share of the samples, i.e.
    ``count >= max(1, min_share * N / K)`` (default: 10% of N/K, so the classifier's rare errors do not
    count as produced classes);
    ``kl_to_uniform``: KL(produced class histogram || uniform) in nats (0 when perfectly balanced,
    log K when one class only); ``histogram``: fraction of samples per class."""

    covered: int
    num_classes: int
    kl_to_uniform: float
    histogram: list[float]
    n_samples: int

    def to_dict(self) -> dict:
        return asdict(self)


def class_coverage(predicted: np.ndarray, num_classes: int = 10, min_share: float = 0.1) -> ClassCoverage:
    """Coverage of predicted class labels (N,) or probabilities (N, K) (argmax taken).

    ``min_share=0`` counts every class predicted at least once."""
    pred = np.asarray(predicted)
    if pred.ndim == 2:
        num_classes = pred.shape[1]
        pred = pred.argmax(axis=1)
    if pred.ndim != 1 or len(pred) == 0:
        raise EarthmoverError(f"class_coverage: expected (N,) labels or (N, K) probabilities, got shape {pred.shape}")
    counts = np.bincount(pred.astype(np.int64), minlength=num_classes)[:num_classes]
    hist = counts / counts.sum()
    nz = hist > 0
    kl = float((hist[nz] * np.log(hist[nz] * num_classes)).sum())
    threshold = max(1.0, min_share * len(pred) / num_classes)
    return ClassCoverage(int((counts >= threshold).sum()), num_classes, kl, hist.tolist(), int(len(pred)))


def code_accuracy(
    predicted: np.ndarray, codes: np.ndarray, num_classes: int | None = None
) -> tuple[float, dict[int, int]]:
    """InfoGAN's categorical code accuracy: the best one-to-one matching of codes to predicted classes.

    Builds the (codes x classes) contingency table, finds the assignment that maximizes the matched
    count (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``), and returns
    (matched / N, {code: class}).
    """
    pred, code = np.asarray(predicted).astype(np.int64), np.asarray(codes).astype(np.int64)
    if pred.shape != code.shape or pred.ndim != 1 or len(pred) == 0:
        raise EarthmoverError(
            f"code_accuracy: predicted {pred.shape} and codes {code.shape} must be equal-length 1-D arrays"
        )
    k = num_classes or int(max(pred.max(), code.max()) + 1)
    table = np.zeros((k, k), dtype=np.int64)
    np.add.at(table, (code, pred), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(pred)), {int(r): int(c) for r, c in zip(rows, cols)}
