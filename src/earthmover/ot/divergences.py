"""KL, JS and TV on histograms, and the parallel-lines example of the WGAN paper.

All three compare two histograms p and q over the same bins. Each is first divided by its
own total (so raw counts work). Natural logarithms; the conventions are those of the
Wasserstein GAN paper (Arjovsky, Chintala and Bottou, 2017, section 2):

- ``kl(p, q) = sum_i p_i log(p_i / q_i)`` with 0 log(0 / q) = 0 and p log(p / 0) = +inf:
  KL is +inf as soon as p puts mass where q has none.
- ``js(p, q) = KL(p || m) / 2 + KL(q || m) / 2`` with m = (p + q) / 2: always finite,
  0 <= JS <= log 2, and JS = log 2 exactly when the supports are disjoint.
- ``tv(p, q) = sup over events A of |P(A) - Q(A)| = sum_i |p_i - q_i| / 2``: in [0, 1],
  1 for disjoint supports.

The parallel-lines pair: P_0 is x = 0, y ~ U(0, 1) and P_theta is x = theta, y ~ U(0, 1).
For theta != 0 the supports are disjoint, so JS = log 2, KL = +inf and TV = 1 whatever
theta is, while the earth mover's distance is W = |theta|: only W says how far apart they
are, and only W is continuous in theta (at theta = 0 all four are 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from earthmover.errors import EarthmoverError
from earthmover.ot.emd import _to_numpy, as_points
from earthmover.ot.samples import emd_samples


def _histograms(p, q) -> tuple[np.ndarray, np.ndarray]:
    hp, hq = _to_numpy(p, "p"), _to_numpy(q, "q")
    if hp.shape != hq.shape:
        raise EarthmoverError(f"p has shape {hp.shape} but q has {hq.shape}; histograms must share their bins")
    if hp.size == 0:
        raise EarthmoverError("p and q are empty; pass histograms with at least one bin")
    for name, h in (("p", hp), ("q", hq)):
        if not np.isfinite(h).all():
            raise EarthmoverError(f"{name} contains NaN or infinite values; histogram entries must be finite")
        if (h < 0).any():
            raise EarthmoverError(f"{name} contains negative entries (min {h.min():.3g}); histograms must be >= 0")
        if h.sum() <= 0:
            raise EarthmoverError(f"{name} has total mass 0; at least one bin must be positive")
    return (hp / hp.sum()).ravel(), (hq / hq.sum()).ravel()


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    support = p > 0
    if np.any(q[support] == 0):
        return math.inf
    ps, qs = p[support], q[support]
    return float(max(np.sum(ps * (np.log(ps) - np.log(qs))), 0.0))


def kl(p, q) -> float:
    """Kullback-Leibler divergence KL(p || q) = sum p log(p / q), in nats.

    Histograms over the same bins, each divided by its total. 0 log(0 / q) = 0; +inf when
    some bin has p > 0 and q = 0 (p is not absolutely continuous with respect to q).
    """
    hp, hq = _histograms(p, q)
    return _kl(hp, hq)


def js(p, q) -> float:
    """Jensen-Shannon divergence (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2, in nats.

    Histograms over the same bins, each divided by its total. Finite, symmetric,
    0 <= JS <= log 2, and JS = log 2 exactly when p and q have disjoint supports.
    """
    hp, hq = _histograms(p, q)
    m = 0.5 * (hp + hq)
    return min(0.5 * _kl(hp, m) + 0.5 * _kl(hq, m), math.log(2.0))


def tv(p, q) -> float:
    """Total variation sup over events A of |P(A) - Q(A)| = sum |p - q| / 2.

    Histograms over the same bins, each divided by its total. In [0, 1]; 1 exactly when
    the supports are disjoint (take A = the support of p).
    """
    hp, hq = _histograms(p, q)
    return float(min(0.5 * np.abs(hp - hq).sum(), 1.0))


# --------------------------------------------------------------------------- parallel lines


@dataclass(frozen=True)
class ParallelLines:
    """The four distances between P_0 and P_theta, closed form or estimated from samples."""

    theta: float
    w: float
    js: float
    kl: float
    tv: float


def parallel_lines(theta: float) -> ParallelLines:
    """Closed forms for P_0 (x = 0, y ~ U(0,1)) and P_theta (x = theta, y ~ U(0,1)).

    W = |theta|; for theta != 0: JS = log 2, KL = +inf, TV = 1; at theta = 0 all are 0.
    """
    theta = float(theta)
    if not math.isfinite(theta):
        raise EarthmoverError(f"theta={theta} is not finite; pass a finite offset between the lines")
    if theta == 0.0:
        return ParallelLines(theta, 0.0, 0.0, 0.0, 0.0)
    return ParallelLines(theta, abs(theta), math.log(2.0), math.inf, 1.0)


def parallel_lines_samples(theta: float, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n samples of P_0 and n of P_theta, each an (n, 2) array, from ``seed``."""
    if int(n) < 1:
        raise EarthmoverError(f"n={n} samples; pass n >= 1")
    rng = np.random.default_rng(seed)
    y0, y1 = rng.random(int(n)), rng.random(int(n))
    return np.stack([np.zeros(int(n)), y0], axis=1), np.stack([np.full(int(n), float(theta)), y1], axis=1)


def histogram_divergences(X, Y, bins: int = 10) -> tuple[float, float, float]:
    """(KL, JS, TV) between two 2-D sample sets, from histograms on one shared grid.

    The grid spans both sets with ``bins`` cells per axis; a plug-in estimate, biased
    upward by about (bins^2) / n for overlapping distributions.
    """
    xp, yp = as_points(X, "X"), as_points(Y, "Y")
    if xp.shape[1] != 2 or yp.shape[1] != 2:
        raise EarthmoverError(f"X and Y must be (n, 2) samples, got {xp.shape} and {yp.shape}")
    both = np.concatenate([xp, yp])
    lo, hi = both.min(axis=0), both.max(axis=0)
    hi = np.where(hi > lo, hi, lo + 1.0)  # a degenerate axis gets one unit-wide range
    edges = [np.linspace(lo[k], hi[k], int(bins) + 1) for k in range(2)]
    hx, _, _ = np.histogram2d(xp[:, 0], xp[:, 1], bins=edges)
    hy, _, _ = np.histogram2d(yp[:, 0], yp[:, 1], bins=edges)
    return kl(hx, hy), js(hx, hy), tv(hx, hy)


def parallel_lines_estimates(theta: float, n: int = 1000, seed: int = 0, bins: int = 10) -> ParallelLines:
    """Estimate W, JS, KL, TV between P_0 and P_theta from n samples of each.

    W by the exact earth mover's distance between the two sample sets (it converges to
    |theta| as n grows); JS, KL, TV from histograms on a shared grid
    (:func:`histogram_divergences`), which already show log 2, +inf and 1 for any
    theta != 0 because the two lines fall into different cells.
    """
    X, Y = parallel_lines_samples(theta, n, seed)
    k, j, t = histogram_divergences(X, Y, bins=bins)
    return ParallelLines(float(theta), emd_samples(X, Y), j, k, t)
