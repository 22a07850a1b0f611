"""Distances between two sample sets (point clouds), for evaluation and the training loop.

- :func:`emd_samples`: the exact earth mover's distance (Euclidean cost). Equal sizes with
  uniform weights make it an assignment problem (Birkhoff: some optimal plan is a
  permutation), solved exactly by scipy's ``linear_sum_assignment``; one-dimensional points
  use the sorted closed form; everything else the network simplex.
- :func:`sliced_wasserstein`: the mean over random directions theta of the 1-D earth
  mover's distance between the projections <theta, x>; a lower bound of the earth mover's
  distance, cheap for large sets, reproducible through ``seed``.
- :func:`sinkhorn`: entropy-regularized transport through POT. An *approximation*: it returns
  <M, gamma_reg>, the cost of the regularized plan, which is >= the exact distance and
  tends to it as ``reg`` -> 0 (``reg`` is in the units of the cost).

All accept numpy arrays or torch tensors (detached, moved to the CPU) of shape (n, d) or (n,)
and return a Python float.
"""

from __future__ import annotations

import numpy as np

from earthmover.errors import EarthmoverError
from earthmover.ot.emd import _balance, _weights, as_points, cost_matrix, emd, emd_1d


def _pair(X, Y) -> tuple[np.ndarray, np.ndarray]:
    xp, yp = as_points(X, "X"), as_points(Y, "Y")
    if xp.shape[1] != yp.shape[1]:
        raise EarthmoverError(f"X has dimension {xp.shape[1]} but Y has {yp.shape[1]}; samples must live in one space")
    return xp, yp


def emd_samples(X, Y, a=None, b=None, normalize: bool = False) -> float:
    """Exact earth mover's distance between the empirical distributions of X and Y.

    Args:
        X: (n, d) or (n,) samples (numpy or torch).
        Y: (m, d) or (m,) samples (numpy or torch).
        a: optional weights on X (uniform 1/n when None).
        b: optional weights on Y (uniform 1/m when None).
        normalize: divide given weights by their totals.
    Returns:
        The distance as a float, with the Euclidean ground cost.
    """
    xp, yp = _pair(X, Y)
    if xp.shape[1] == 1:
        return emd_1d(xp, yp, a, b, normalize=normalize).distance
    if a is None and b is None and xp.shape[0] == yp.shape[0]:
        from scipy.optimize import linear_sum_assignment

        M = cost_matrix(xp, yp)
        rows, cols = linear_sum_assignment(M)
        return float(M[rows, cols].mean())
    return emd(a, b, x=xp, y=yp, method="network-simplex", normalize=normalize).distance


def _directions(d: int, n_projections: int, seed: int) -> np.ndarray:
    if int(n_projections) < 1:
        raise EarthmoverError(f"n_projections={n_projections}; pass at least 1 direction")
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((int(n_projections), d))
    return theta / np.linalg.norm(theta, axis=1, keepdims=True)


def sliced_wasserstein(X, Y, n_projections: int = 100, seed: int = 0, a=None, b=None) -> float:
    """Sliced Wasserstein-1 distance: mean over random unit directions of the 1-D distance.

    SW(X, Y) = E_theta W1(<theta, X>, <theta, Y>) with theta uniform on the unit sphere,
    estimated with ``n_projections`` directions drawn from ``seed``. SW <= EMD (projection
    is 1-Lipschitz); in one dimension SW = EMD exactly.
    """
    xp, yp = _pair(X, Y)
    directions = _directions(xp.shape[1], n_projections, seed)
    px, py = xp @ directions.T, yp @ directions.T  # (n, k), (m, k)
    if a is None and b is None and xp.shape[0] == yp.shape[0]:
        px.sort(axis=0)
        py.sort(axis=0)
        return float(np.abs(px - py).mean())
    return float(np.mean([emd_1d(px[:, k], py[:, k], a, b).distance for k in range(directions.shape[0])]))


def sinkhorn(X, Y, reg: float = 0.05, a=None, b=None, max_iter: int = 10000, tol: float = 1e-9) -> float:
    """Entropy-regularized approximation of the earth mover's distance (POT, log domain).

    Solves min <M, gamma> - reg * H(gamma) over the transport plans with the Euclidean cost
    M, and returns <M, gamma_reg> (without the entropy term). This is an approximation:
    it is >= the exact distance and converges to it as ``reg`` -> 0; ``reg`` is in the units
    of the cost, so scale it with the spread of the data. Use :func:`emd_samples` for the
    exact value.
    """
    import ot

    if not reg > 0:
        raise EarthmoverError(f"reg={reg}; the entropic regularization must be > 0")
    xp, yp = _pair(X, Y)
    M = cost_matrix(xp, yp)
    aw, sa = _weights(a, "a", xp.shape[0], "X")
    bw, sb = _weights(b, "b", yp.shape[0], "Y")
    aw, bw = _balance(aw, sa, bw, sb, normalize=False)
    gamma = ot.sinkhorn(aw, bw, M, reg, method="sinkhorn_log", numItermax=int(max_iter), stopThr=tol)
    if not np.isfinite(gamma).all():
        raise EarthmoverError(f"sinkhorn with reg={reg} produced non-finite values; increase reg")
    return float(np.sum(gamma * M))
