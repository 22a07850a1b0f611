"""Frechet Inception Distance (Heusel et al. 2017): the Frechet distance between Gaussians fitted to features.

    FID = |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})

Computed in float64. The trace term is taken from eigenvalues of a symmetric matrix, not from
``scipy.linalg.sqrtm`` of the non-symmetric product: with ``R = S_1^{1/2}`` (symmetric, from ``eigh``),
``S_1 S_2 = R (R S_2 R) R^{-1}`` is similar to the symmetric positive semi-definite ``R S_2 R``, so
``tr (S_1 S_2)^{1/2} = sum_i sqrt(lambda_i(R S_2 R))``. Eigenvalues that rounding leaves slightly
negative are clipped to zero. This never produces the imaginary parts SciPy 1.11's ``sqrtm`` returned
for FID covariances (pytorch-fid #103) and needs no ``eps * I`` retry for singular covariances
(fewer samples than feature dimensions).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from earthmover.errors import EarthmoverError


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (ddof=1) of (N, D) features, float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise EarthmoverError(f"features: expected an (N, D) array with N >= 2, got shape {f.shape}; pass more samples")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise EarthmoverError(
            f"frechet_distance: shapes mu {mu1.shape}/{mu2.shape}, sigma {sigma1.shape}/{sigma2.shape} do not match; "
            "compare features from the same extractor"
        )
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2))
    # a squared distance: rounding in the eigenvalues leaves about -1e-7 for a set against itself, never a true negative
    return max(value, 0.0)


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S_1 S_2)^{1/2}) for symmetric positive semi-definite S_1, S_2, from symmetric eigendecompositions."""
    w, v = linalg.eigh((sigma1 + sigma1.T) / 2.0)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    inner = root @ sigma2 @ root
    return float(np.sqrt(np.clip(linalg.eigvalsh((inner + inner.T) / 2.0), 0.0, None)).sum())


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two (N, D) feature sets."""
    return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))
