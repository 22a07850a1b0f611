"""Optimal transport you can compute: the earth mover's distance and its dual, KL/JS/TV, sample sets.

The two facts behind the Wasserstein GAN, as functions:

1. The earth mover's distance is a linear program (:func:`emd` with ``method="lp"``), whose
   dual is a supremum over 1-Lipschitz potentials (Kantorovich-Rubinstein):
   :func:`check_duality` reports strong duality, feasibility, complementary slackness and,
   on one shared set of points, the Lipschitz constant of a potential with g = -f.
2. JS, KL and TV stop telling distributions apart once their supports are disjoint, while
   the earth mover's distance keeps measuring how far apart they are:
   :func:`parallel_lines` (closed forms) and :func:`parallel_lines_estimates` (from samples).

Public API
----------
emd(a, b, M, method="auto", normalize=False, *, x=None, y=None, max_iter=None) -> EMDResult
    Exact distance, plan and duals; methods "lp" (scipy HiGHS on the primal LP),
    "network-simplex" (POT), "1d" (closed form, needs points on a line), "auto".
    Unlike POT's ``ot.emd(a, b, M)``, which returns the plan (an array), it returns an
    :class:`EMDResult`; ``emd(a, b, M).plan`` is POT's result, ``.distance`` is ``ot.emd2``'s.
emd2(...) -> float
    The distance alone, as POT's ``ot.emd2`` returns it.
emd_1d(x, y, a=None, b=None) -> EMDResult
    The closed form on a line, integral of |F_a - F_b|.
cost_matrix(x, y) -> ndarray
    Euclidean (not squared) ground cost.
check_duality(result) -> DualityReport
    LP duality checks as numbers.
kantorovich_potential(result) -> ndarray
    phi with (f, g) = (phi, -phi) optimal, on one shared set of points.
kl(p, q), js(p, q), tv(p, q) -> float
    Divergences between histograms (conventions in their docstrings).
parallel_lines(theta), parallel_lines_samples(theta, n, seed), parallel_lines_estimates(theta, ...)
    The lectures' example: W = |theta|; JS = log 2, KL = inf, TV = 1 for theta != 0.
emd_samples(X, Y) -> float
    Exact distance between two point clouds (numpy or torch), for evaluation and training loops.
sliced_wasserstein(X, Y, n_projections, seed) -> float
    Random-projection lower bound, for large sets.
sinkhorn(X, Y, reg) -> float
    Entropy-regularized approximation through POT (>= the exact value).

The heavy solvers (scipy.optimize, POT, which imports torch) are imported on first use, so
importing this package stays cheap. Note that the function ``emd`` shadows the submodule of the
same name as an attribute of this package: use ``from earthmover.ot.emd import ...`` (which
works) rather than ``import earthmover.ot.emd as m`` (which gives the function).
"""

from earthmover.ot.divergences import (
    ParallelLines,
    histogram_divergences,
    js,
    kl,
    parallel_lines,
    parallel_lines_estimates,
    parallel_lines_samples,
    tv,
)
from earthmover.ot.duality import DualityReport, check_duality, kantorovich_potential
from earthmover.ot.emd import (
    EMDResult,
    cost_matrix,
    emd,
    emd2,
    emd_1d,
)
from earthmover.ot.samples import emd_samples, sinkhorn, sliced_wasserstein

__all__ = [
    "DualityReport",
    "EMDResult",
    "ParallelLines",
    "check_duality",
    "cost_matrix",
    "emd",
    "emd2",
    "emd_1d",
    "emd_samples",
    "histogram_divergences",
    "js",
    "kantorovich_potential",
    "kl",
    "parallel_lines",
    "parallel_lines_estimates",
    "parallel_lines_samples",
    "sinkhorn",
    "sliced_wasserstein",
    "tv",
]
