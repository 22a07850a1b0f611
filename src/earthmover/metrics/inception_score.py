"""Inception Score (Salimans et al. 2016): exp E_x KL(p(y|x) || p(y)), over 10 splits (mean and std).

Splits are contiguous, as in the original code and stylegan2-ada: rows [i N / s, (i + 1) N / s).
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from earthmover.errors import EarthmoverError


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over ``splits`` of exp(mean KL(p(y|x) || p(y))); ``probs`` is (N, K), rows summing to 1."""
    p = np.asarray(probs, np.float64)
    if p.ndim != 2 or len(p) < splits:
        raise EarthmoverError(
            f"inception_score: expected (N, K) probabilities with N >= splits={splits}, got shape {p.shape}"
        )
    if not np.allclose(p.sum(axis=1), 1.0, atol=1e-4) or (p < 0).any():
        raise EarthmoverError(
            "inception_score: rows of probs must be probability vectors; apply softmax to logits first"
        )
    n = len(p)
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        py = part.mean(axis=0, keepdims=True)
        kl = (xlogy(part, part) - xlogy(part, py)).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))
