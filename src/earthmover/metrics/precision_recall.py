"""Improved precision and recall (Kynkaanniemi et al. 2019), k = 3.

The manifold of a set is the union of balls centred at its points, each with the radius to that
point's k-th nearest neighbour within the set (the point itself excluded). Precision: the fraction
of generated samples inside the real manifold; recall: the fraction of real samples inside the
generated manifold. Euclidean distances in float64, computed in row blocks.
"""

from __future__ import annotations

import numpy as np

from earthmover.errors import EarthmoverError


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def knn_radii(x: np.ndarray, k: int = 3, block: int = 1024) -> np.ndarray:
    """Distance from each row of x to its k-th nearest other row."""
    if len(x) <= k:
        raise EarthmoverError(f"precision_recall: need more than k={k} samples per set, got {len(x)}")
    radii = np.empty(len(x))
    for i in range(0, len(x), block):
        d = _sqdist(x[i : i + block], x)
        d[np.arange(len(d)), np.arange(i, i + len(d))] = 0.0  # the point itself sits at index 0 after sorting
        radii[i : i + block] = np.sqrt(np.partition(d, k, axis=1)[:, k])
    return radii


def _inside(queries: np.ndarray, centres: np.ndarray, radii: np.ndarray, block: int = 1024) -> np.ndarray:
    out = np.empty(len(queries), dtype=bool)
    for i in range(0, len(queries), block):
        d = np.sqrt(_sqdist(queries[i : i + block], centres))
        out[i : i + block] = (d <= radii[None, :]).any(axis=1)
    return out


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of fake features against real features."""
    r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != f.shape[1]:
        raise EarthmoverError(
            f"precision_recall: expected (N, D) feature arrays of equal D, got {r.shape} and {f.shape}"
        )
    precision = float(_inside(f, r, knn_radii(r, k)).mean())
    recall = float(_inside(r, f, knn_radii(f, k)).mean())
    return precision, recall
