"""The earth mover's distance between two discrete distributions, three exact ways.

For weights ``a`` (n) and ``b`` (m) with equal totals and a ground cost ``M`` (n x m),

    EMD(a, b) = min  <M, gamma>   over  gamma >= 0,  gamma 1 = a,  gamma^T 1 = b,

and its linear-programming dual (Kantorovich) is

    EMD(a, b) = max  sum_i f_i a_i + sum_j g_j b_j   over  f_i + g_j <= M_ij
(its checks as numbers: :mod:`earthmover.ot.duality`).

Methods (all exact; they agree to 1e-9 on the same input):

``"lp"``
    The primal LP exactly as stated above, on the variables vec(gamma) (row-major),
    with the (n + m) x (n m) equality matrix A, A vec(gamma) = [a; b], solved by
    scipy's HiGHS (``scipy.optimize.linprog(method="highs")``). The duals f, g are
    the equality constraints' marginals ``res.eqlin.marginals``.
``"network-simplex"``
    POT's network simplex (``ot.emd(..., log=True)``); the duals are ``log["u"]`` and
    ``log["v"]``. POT only warns when it stops before optimality; we read its result code
    and raise :class:`EarthmoverError` (POT's own UserWarning may still be shown first: we
    do not wrap the hot path in ``warnings.catch_warnings``, which costs ~5% of a small solve).
``"1d"``
    For points on a line with the cost |x - y|: EMD = integral of |F_a(t) - F_b(t)| dt.
    It needs the coordinates, so it is reached through ``emd(a, b, x=..., y=...)`` with
    one-dimensional points, or directly through :func:`emd_1d`. It returns the monotone
    (north-west corner) plan and the 1-Lipschitz potential phi with phi' = -sign(F_a - F_b)
    as duals f = phi on a's points, g = -phi on b's points.
``"auto"``
    The fastest exact method for the input: ``"1d"`` for one-dimensional points (faster
    than the network simplex at every size measured, 10 to 3000 points, even before the
    cost matrix is counted), otherwise ``"network-simplex"`` (the LP is 50x to 800x slower;
    see benchmarks/ot.py).

The ground cost is given either as a matrix ``M`` or as point coordinates ``x`` (n x d)
and ``y`` (m x d), in which case it is the Euclidean distance :func:`cost_matrix`
(the cost of the Wasserstein GAN; POT's ``ot.dist`` defaults to the *squared*
Euclidean cost, which is a different distance).

The distance is the optimal value <M, gamma> itself: with weights summing to 1 it is the
Wasserstein-1 distance; with other totals it scales with the total mass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from earthmover.errors import EarthmoverError

METHODS = ("auto", "lp", "network-simplex", "1d")

# Totals of a and b may differ by this relative amount (float32 rounding of a normalized
# histogram); b is then rescaled to a's total so that the LP is exactly feasible.
MASS_RTOL = 1e-6

# POT's network simplex result codes (ot/lp/network_simplex_simple.h).
_POT_CODES = {0: "infeasible", 1: "optimal", 2: "unbounded", 3: "stopped at the iteration limit"}


@dataclass(eq=False, slots=True)  # not frozen: a frozen __init__ costs ~1 us per solve
class EMDResult:
    """The solution of one earth mover's problem.

    Attributes:
        distance: the optimal transport cost <M, gamma>.
        plan: gamma, an (n, m) array with row sums a and column sums b.
        f: dual potential on a's support (n); g: dual potential on b's support (m);
            f_i + g_j <= M_ij and sum f a + sum g b = distance. They are not unique
            (at least a constant can move from f to g).
        a, b: the weights actually used (after ``normalize`` or rescaling).
        method: the method that solved it ("lp", "network-simplex" or "1d").
        M: the ground cost, or None when it was not needed (``"1d"`` from points);
            :meth:`cost` builds it from ``x`` and ``y`` on demand.
        x, y: the point coordinates when the cost came from points, else None.
    """

    distance: float
    plan: np.ndarray
    f: np.ndarray
    g: np.ndarray
    a: np.ndarray
    b: np.ndarray
    method: str
    M: np.ndarray | None = None
    x: np.ndarray | None = None
    y: np.ndarray | None = None

    def cost(self) -> np.ndarray:
        """The ground cost matrix M (built from the points when it was not stored)."""
        if self.M is not None:
            return self.M
        return cost_matrix(self.x, self.y)

    def __float__(self) -> float:
        return self.distance


# --------------------------------------------------------------------------- inputs


def _to_numpy(value, name: str) -> np.ndarray:
    """float64 ndarray view of an array-like or torch tensor (no copy when already float64)."""
    if value is None:
        raise EarthmoverError(f"{name} is None; expected an array of numbers")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor without importing torch
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise EarthmoverError(
            f"{name} could not be read as an array of numbers ({exc}); pass a numeric array"
        ) from None
    return arr


def as_points(x, name: str) -> np.ndarray:
    """Points as an (n, d) float64 array; a 1-D array of n numbers is n points on a line."""
    arr = _to_numpy(x, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise EarthmoverError(f"{name} has shape {arr.shape}; expected points of shape (n, d) or (n,)")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise EarthmoverError(f"{name} is empty (shape {arr.shape}); pass at least one point")
    if not np.isfinite(arr).all():
        raise EarthmoverError(f"{name} contains NaN or infinite coordinates; remove or fix those points")
    return arr


def _weights(w, name: str, n: int, other: str) -> tuple[np.ndarray, float]:
    """Validated weights and their total (two reductions: this sits on the hot path)."""
    if w is None:
        return np.full(n, 1.0 / n), 1.0
    arr = _to_numpy(w, name)
    if arr.ndim != 1:
        raise EarthmoverError(f"{name} has shape {arr.shape}; expected a 1-D array of {n} weights")
    if arr.shape[0] != n:
        raise EarthmoverError(f"{name} has {arr.shape[0]} weights but {other} has {n}; they must match")
    total = float(np.add.reduce(arr))
    lowest = float(np.minimum.reduce(arr))  # NaN propagates through minimum; +inf shows in the total
    if not (math.isfinite(total) and math.isfinite(lowest)):
        raise EarthmoverError(f"{name} contains NaN or infinite weights; weights must be finite and >= 0")
    if lowest < 0:
        raise EarthmoverError(f"{name} contains negative weights (min {lowest:.3g}); weights must be >= 0")
    if total <= 0:
        raise EarthmoverError(f"{name} has total mass 0; at least one weight must be positive")
    return arr, total


def _balance(a: np.ndarray, sa: float, b: np.ndarray, sb: float, normalize: bool) -> tuple[np.ndarray, np.ndarray]:
    if normalize:
        return (a if sa == 1.0 else a / sa), (b if sb == 1.0 else b / sb)
    if sa != sb:
        if abs(sa - sb) > MASS_RTOL * max(sa, sb):
            raise EarthmoverError(
                f"a sums to {sa:.10g} but b sums to {sb:.10g}; the totals must be equal "
                "(pass normalize=True, or --normalize on the command line, to divide each by its total)"
            )
        b = b * (sa / sb)
    return a, b


def _check_cost(M, n_name: str = "a", m_name: str = "b") -> np.ndarray:
    M = _to_numpy(M, "M")
    if M.ndim != 2:
        raise EarthmoverError(f"M has shape {M.shape}; expected a 2-D cost matrix of shape (len(a), len(b))")
    if M.shape[0] == 0 or M.shape[1] == 0:
        raise EarthmoverError(f"M is empty (shape {M.shape}); both distributions need at least one point")
    # One reduction first (cheap); only when it is not finite, look element-wise (it may just overflow).
    if not math.isfinite(float(np.add.reduce(M, axis=None))) and not np.isfinite(M).all():
        raise EarthmoverError("M contains NaN or infinite costs; every ground cost must be finite")
    return M


def cost_matrix(x, y) -> np.ndarray:
    """Euclidean ground cost M_ij = ||x_i - y_j||_2 (not squared) between point sets.

    ``x`` is (n, d) or (n,), ``y`` is (m, d) or (m,); numpy arrays or torch tensors.
    This is the cost of the earth mover's (Wasserstein-1) distance. POT's ``ot.dist``
    defaults to the squared Euclidean cost, which gives a different distance.
    """
    from scipy.spatial.distance import cdist

    xp, yp = as_points(x, "x"), as_points(y, "y")
    if xp.shape[1] != yp.shape[1]:
        raise EarthmoverError(f"x has dimension {xp.shape[1]} but y has {yp.shape[1]}; points must live in one space")
    if xp.shape[1] == 1:  # exact |x - y| on a line, without cdist's sqrt of a square
        return np.abs(xp[:, 0][:, None] - yp[:, 0][None, :])
    return cdist(xp, yp, metric="euclidean")


# --------------------------------------------------------------------------- solvers


def _solve_lp(a: np.ndarray, b: np.ndarray, M: np.ndarray, max_iter: int | None):
    """The primal LP as stated: min <vec(M), vec(gamma)>, A vec(gamma) = [a; b], vec(gamma) >= 0."""
    import scipy.sparse as sp
    from scipy.optimize import linprog

    n, m = M.shape
    rows = sp.kron(sp.identity(n, format="csr"), np.ones((1, m)), format="csr")  # sum_j gamma_ij = a_i
    cols = sp.kron(np.ones((1, n)), sp.identity(m, format="csr"), format="csr")  # sum_i gamma_ij = b_j
    A = sp.vstack([rows, cols], format="csr")
    options = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
    if max_iter is not None:
        options["maxiter"] = int(max_iter)
    res = linprog(c=M.ravel(), A_eq=A, b_eq=np.concatenate([a, b]), bounds=(0, None), method="highs", options=options)
    if res.status != 0:
        raise EarthmoverError(
            f"method='lp': HiGHS did not reach optimality (status {res.status}: {res.message}); "
            "raise max_iter or use method='network-simplex'"
        )
    gamma = np.maximum(res.x.reshape(n, m), 0.0)
    marg = res.eqlin.marginals
    return float(res.fun), gamma, np.asarray(marg[:n], dtype=np.float64), np.asarray(marg[n:], dtype=np.float64)


def _solve_network_simplex(a: np.ndarray, b: np.ndarray, M: np.ndarray, max_iter: int | None):
    import ot

    M = np.ascontiguousarray(M)  # POT wants C order; no copy when it already is
    # check_marginals=False: the totals were checked (and b rescaled) in _balance.
    # POT only warns when it stops early (and returns a plan anyway); we read the result code
    # and raise. Its warning is not silenced here: warnings.catch_warnings alone costs ~2.5 us,
    # 5% of a 10-point solve (see benchmarks/ot.py); the CLI silences it.
    gamma, log = ot.emd(
        a, b, M, numItermax=100000 if max_iter is None else int(max_iter), log=True, check_marginals=False
    )
    code = log["result_code"]
    if code != 1:
        raise EarthmoverError(
            f"method='network-simplex': POT's solver {_POT_CODES.get(code, f'returned code {code}')} "
            f"({log['warning']}); raise max_iter (now {100000 if max_iter is None else max_iter}) or use method='lp'"
        )
    return float(log["cost"]), gamma, log["u"], log["v"]


def _solve_1d(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Closed form on a line: distance, monotone plan, and the potential phi (f = phi, g = -phi)."""
    n, m = x.shape[0], y.shape[0]
    # One sort of both point sets with signed weights: the running sum is F_a - F_b.
    t = np.concatenate((x, y))
    order = np.argsort(t, kind="stable")
    ts = t[order]
    diff = np.cumsum(np.concatenate((a, -b))[order])[:-1]  # F_a - F_b on [ts_k, ts_k+1)
    dt = ts[1:] - ts[:-1]
    distance = float(np.abs(diff) @ dt)  # integral of |F_a - F_b|

    # potential: phi(ts_0) = 0, phi' = -sign(F_a - F_b); then sum a phi(x) - sum b phi(y) = distance
    phi_sorted = np.empty(n + m)
    phi_sorted[0] = 0.0
    np.cumsum(-np.sign(diff) * dt, out=phi_sorted[1:])
    phi = np.empty(n + m)
    phi[order] = phi_sorted
    f, g = phi[:n], -phi[n:]

    # monotone (north-west corner) plan: quantile level u goes from F_a^-1(u) to F_b^-1(u)
    ix = order[order < n]  # the stable merged sort lists each set in its own sorted order
    iy = order[order >= n] - n
    ca, cb = np.cumsum(a[ix]), np.cumsum(b[iy])
    cb[-1] = ca[-1]  # the totals are equal up to rounding; make them identical
    levels = np.concatenate(((0.0,), ca, cb))
    levels.sort()
    mass = levels[1:] - levels[:-1]
    keep = mass > 0  # drop empty intervals (ties between ca and cb, zero weights)
    mass = mass[keep]
    mid = levels[:-1][keep] + 0.5 * mass
    i = np.minimum(np.searchsorted(ca, mid, side="right"), n - 1)
    j = np.minimum(np.searchsorted(cb, mid, side="right"), m - 1)
    plan = np.zeros((n, m))
    plan[ix[i], iy[j]] = mass  # (i, j) strictly increases in i + j along the levels: no repeats
    return distance, plan, f, g


# --------------------------------------------------------------------------- public API


def emd_1d(x, y, a=None, b=None, normalize: bool = False) -> EMDResult:
    """Exact earth mover's distance between weighted points on a line (cost |x - y|).

    EMD = integral of |F_a(t) - F_b(t)| dt, where F are the cumulative distribution
    functions of sum_i a_i delta_{x_i} and sum_j b_j delta_{y_j}; O((n + m) log(n + m)).

    Args:
        x: (n,) or (n, 1) positions of a's points.
        y: (m,) or (m, 1) positions of b's points.
        a: weights on x (uniform 1/n when None), >= 0.
        b: weights on y (uniform 1/m when None), >= 0, with the same total as a.
        normalize: divide a and b by their totals first.
    Returns:
        :class:`EMDResult` with method "1d", the monotone plan and the duals f = phi(x),
        g = -phi(y) of a 1-Lipschitz potential phi.
    """
    xp, yp = as_points(x, "x"), as_points(y, "y")
    if xp.shape[1] != 1 or yp.shape[1] != 1:
        raise EarthmoverError(
            f"method='1d' needs points on a line, got x of dimension {xp.shape[1]} and y of dimension "
            f"{yp.shape[1]}; use method='network-simplex' for points in more dimensions"
        )
    aw, sa = _weights(a, "a", xp.shape[0], "x")
    bw, sb = _weights(b, "b", yp.shape[0], "y")
    aw, bw = _balance(aw, sa, bw, sb, normalize)
    distance, plan, f, g = _solve_1d(xp[:, 0], yp[:, 0], aw, bw)
    return EMDResult(distance, plan, f, g, aw, bw, "1d", None, xp, yp)


def emd(
    a=None,
    b=None,
    M=None,
    method: str = "auto",
    normalize: bool = False,
    *,
    x=None,
    y=None,
    max_iter: int | None = None,
) -> EMDResult:
    """Exact earth mover's distance between two discrete distributions.

    Unlike POT's ``ot.emd(a, b, M)``, which takes the same arguments and returns the transport
    plan (an n x m array), this returns an :class:`EMDResult`: ``.plan`` is POT's result,
    ``.distance`` the cost ``ot.emd2`` returns (or call :func:`emd2`), and ``.f``/``.g`` the duals.

    Give the ground cost either as ``M`` (n x m) or as points ``x`` (n x d) and ``y``
    (m x d) with the Euclidean cost (:func:`cost_matrix`), never both.

    Args:
        a: weights on the n source points (uniform 1/n when None); >= 0, finite.
        b: weights on the m target points (uniform 1/m when None); same total as a.
        M: ground cost matrix, shape (n, m), finite.
        method: "auto" (fastest exact: "1d" for points on a line, else "network-simplex"),
            "lp" (the primal LP with scipy's HiGHS), "network-simplex" (POT), or "1d"
            (closed form; needs one-dimensional ``x`` and ``y``).
        normalize: divide a and b by their own totals (otherwise unequal totals are an error).
        x: source point coordinates (n x d), instead of ``M``.
        y: target point coordinates (m x d), instead of ``M``.
        max_iter: iteration limit for "lp" and "network-simplex" (POT's default 100000
            when None); reaching it raises :class:`EarthmoverError`.
    Returns:
        :class:`EMDResult` (distance, plan, duals f and g).
    Raises:
        EarthmoverError: negative/NaN weights, unequal totals, shape mismatches, empty
            inputs, an unknown method, or a solver that stops before optimality.
    """
    if method not in METHODS:
        raise EarthmoverError(f"method={method!r} is not known; choose one of {', '.join(METHODS)}")
    if M is not None and (x is not None or y is not None):
        raise EarthmoverError("pass either the cost matrix M or the points x and y, not both")
    xp: np.ndarray | None = None
    yp: np.ndarray | None = None
    if M is None:
        if x is None or y is None:
            raise EarthmoverError("no ground cost: pass the cost matrix M, or the points x and y")
        xp, yp = as_points(x, "x"), as_points(y, "y")
        if xp.shape[1] != yp.shape[1]:
            raise EarthmoverError(
                f"x has dimension {xp.shape[1]} but y has {yp.shape[1]}; points must live in one space"
            )
        if method == "auto":
            method = "1d" if xp.shape[1] == 1 else "network-simplex"
        if method == "1d":
            return emd_1d(xp, yp, a, b, normalize=normalize)
        M = cost_matrix(xp, yp)
    else:
        if method == "1d":
            raise EarthmoverError(
                "method='1d' needs the points on the line, not a cost matrix: "
                "call emd(a, b, x=..., y=...) or emd_1d(x, y, a, b)"
            )
        M = _check_cost(M)
        if method == "auto":
            method = "network-simplex"
    n, m = M.shape
    aw, sa = _weights(a, "a", n, "M's rows")
    bw, sb = _weights(b, "b", m, "M's columns")
    aw, bw = _balance(aw, sa, bw, sb, normalize)
    solve = _solve_lp if method == "lp" else _solve_network_simplex
    distance, plan, f, g = solve(aw, bw, M, max_iter)
    return EMDResult(distance, plan, f, g, aw, bw, method, M, xp, yp)


def emd2(a=None, b=None, M=None, method: str = "auto", normalize: bool = False, **kwargs) -> float:
    """The distance alone: ``emd(...).distance``."""
    return emd(a, b, M, method, normalize, **kwargs).distance
