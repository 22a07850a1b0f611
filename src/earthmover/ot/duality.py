"""Linear-programming duality of a solved transport problem, as numbers.

The dual of the earth mover's distance (Kantorovich) is

    EMD(a, b) = max  sum_i f_i a_i + sum_j g_j b_j   over  f_i + g_j <= M_ij,

and when a and b live on one set of points it takes the Kantorovich-Rubinstein form: a single
1-Lipschitz potential phi with (f, g) = (phi, -phi). :func:`check_duality` reports how well an
:class:`~earthmover.ot.emd.EMDResult` satisfies strong duality, feasibility and complementary
slackness, and :func:`kantorovich_potential` builds phi.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from earthmover.errors import EarthmoverError
from earthmover.ot.emd import EMDResult


@dataclass(frozen=True)
class DualityReport:
    """Numbers that say how well an :class:`EMDResult` satisfies LP duality.

    All violations are >= 0; exact arithmetic would make them 0.

    Attributes:
        primal: <M, gamma>.
        dual: sum_i f_i a_i + sum_j g_j b_j.
        gap: |primal - dual| (strong duality).
        feasibility: max_ij (f_i + g_j - M_ij), clipped at 0 (dual feasibility).
        marginals: max |gamma 1 - a|, |gamma^T 1 - b|, and -min gamma (primal feasibility).
        slackness: max |M_ij - f_i - g_j| over the plan's support gamma_ij > 1e-12 * mass
            (complementary slackness).
        same_support: whether a and b live on one set of points (then g = -f is possible).
        lipschitz: for same support, the Lipschitz constant of the potential phi in the
            ground metric, max_{i != j} |phi_i - phi_j| / M_ij (at most 1); else None.
        symmetric_gap: for same support, |primal - (sum phi a - sum phi b)|; else None.
        symmetric_feasibility: for same support, max_ij (phi_i - phi_j - M_ij) clipped at 0.
    """

    primal: float
    dual: float
    gap: float
    feasibility: float
    marginals: float
    slackness: float
    same_support: bool
    lipschitz: float | None = None
    symmetric_gap: float | None = None
    symmetric_feasibility: float | None = None

    def ok(self, tol: float = 1e-9) -> bool:
        """True when every reported violation is within ``tol`` (Lipschitz within 1 + tol)."""
        values = [self.gap, self.feasibility, self.marginals, self.slackness]
        if self.same_support:
            if self.symmetric_gap is None or self.symmetric_feasibility is None or self.lipschitz is None:
                return False  # a report built by hand without the symmetric numbers
            values += [self.symmetric_gap, self.symmetric_feasibility, _pos(self.lipschitz - 1.0)]
        return all(v <= tol for v in values)


def _pos(v: float) -> float:
    """max(v, 0) that never returns -0.0."""
    return v if v > 0 else 0.0


def _same_support(result: EMDResult, M: np.ndarray) -> bool:
    if M.shape[0] != M.shape[1]:
        return False
    if result.x is not None and result.y is not None:
        return bool(np.array_equal(result.x, result.y))
    return bool(np.all(np.diag(M) == 0) and np.allclose(M, M.T, rtol=0, atol=1e-12 * max(1.0, np.abs(M).max())))


def kantorovich_potential(result: EMDResult) -> np.ndarray:
    """A potential phi with (f, g) = (phi, -phi) optimal, when a and b share one set of points.

    phi_i = min_j (M_ij - g_j) is the c-transform of the dual g. For a metric ground cost
    it is 1-Lipschitz (a minimum of 1-Lipschitz functions), so (phi, -phi) is dual feasible,
    and phi >= f, -phi >= g give sum phi a - sum phi b >= sum f a + sum g b = EMD: the
    Kantorovich-Rubinstein form EMD = max over 1-Lipschitz phi of E_a[phi] - E_b[phi].
    """
    M = result.cost()
    if M.shape[0] != M.shape[1]:
        raise EarthmoverError(
            f"the distributions live on {M.shape[0]} and {M.shape[1]} points; a potential with g = -f "
            "needs one shared set of points"
        )
    return np.min(M - result.g[None, :], axis=1)


def check_duality(result: EMDResult, same_support: bool | None = None) -> DualityReport:
    """Check LP duality for a solved problem and report the violations as numbers.

    Strong duality (primal = sum f a + sum g b), dual feasibility (f_i + g_j <= M_ij),
    primal feasibility (marginals, gamma >= 0), complementary slackness (gamma_ij > 0
    only where f_i + g_j = M_ij). When a and b live on one set of points (detected from
    equal ``x`` and ``y``, or a square symmetric M with zero diagonal; or forced with
    ``same_support``), also builds the potential phi of :func:`kantorovich_potential`
    and reports that g = -phi works (gap, feasibility) and phi's Lipschitz constant.
    """
    M = result.cost()
    a, b, gamma, f, g = result.a, result.b, result.plan, result.f, result.g
    primal = float(np.sum(M * gamma))
    dual = float(f @ a + g @ b)
    slack = M - f[:, None] - g[None, :]
    feasibility = _pos(float(-slack.min()))
    marginals = max(
        float(np.abs(gamma.sum(axis=1) - a).max()),
        float(np.abs(gamma.sum(axis=0) - b).max()),
        _pos(float(-gamma.min())),
    )
    support = gamma > 1e-12 * a.sum()
    slackness = float(np.abs(slack[support]).max()) if support.any() else 0.0
    same = _same_support(result, M) if same_support is None else bool(same_support)
    report = DualityReport(
        primal=primal,
        dual=dual,
        gap=abs(primal - dual),
        feasibility=feasibility,
        marginals=marginals,
        slackness=slackness,
        same_support=same,
    )
    if not same:
        return report
    phi = kantorovich_potential(result)
    dphi = phi[:, None] - phi[None, :]
    off = ~np.eye(len(phi), dtype=bool) & (M > 0)
    return replace(
        report,
        lipschitz=float(np.max(np.abs(dphi[off]) / M[off])) if off.any() else 0.0,
        symmetric_gap=abs(primal - float(phi @ a - phi @ b)),
        symmetric_feasibility=_pos(float((dphi - M).max())),
    )
