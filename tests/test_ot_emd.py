"""The earth mover's distance three ways: against brute force, scipy, each other, and LP duality."""

import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.stats

from earthmover.errors import EarthmoverError
from earthmover.ot import check_duality, cost_matrix, emd, emd2, emd_1d, kantorovich_potential

EXACT = ("lp", "network-simplex")


def _random_weights(rng, n, zeros=False):
    w = rng.random(n) + 0.05
    if zeros and n > 2:
        w[rng.choice(n, size=n // 3, replace=False)] = 0.0
    return w / w.sum()


# --------------------------------------------------------------------------- cost


def test_cost_matrix_is_euclidean_not_squared():
    x = np.array([[0.0, 0.0], [1.0, 1.0]])
    y = np.array([[3.0, 4.0], [1.0, 1.0], [-1.0, 0.0]])
    expected = np.array([[5.0, math.sqrt(2.0), 1.0], [math.sqrt(13.0), 0.0, math.sqrt(5.0)]])
    np.testing.assert_allclose(cost_matrix(x, y), expected, rtol=0, atol=1e-15)


def test_cost_matrix_on_a_line_and_from_torch():
    torch = pytest.importorskip("torch")
    x = torch.tensor([0.0, 2.0, -1.5], dtype=torch.float64)
    y = torch.tensor([[1.0], [-1.0]], dtype=torch.float64, requires_grad=True)
    np.testing.assert_array_equal(cost_matrix(x, y), [[1.0, 1.0], [1.0, 3.0], [2.5, 0.5]])


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("n", range(1, 8))
def test_uniform_weights_match_brute_force_over_all_permutations(n):
    # Birkhoff: with n points on each side and weights 1/n, an optimal plan is a permutation.
    rng = np.random.default_rng(100 + n)
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 0.3
    M = cost_matrix(x, y)
    perms = np.array(list(itertools.permutations(range(n))))
    brute = M[np.arange(n), perms].sum(axis=1).min() / n
    for method in EXACT:
        assert emd(None, None, M, method=method).distance == pytest.approx(brute, rel=0, abs=1e-12)
    # the same points on a line: the 1-D closed form against brute force as well
    M1 = cost_matrix(x[:, 0], y[:, 0])
    brute1 = M1[np.arange(n), perms].sum(axis=1).min() / n
    for method in ("1d", "lp", "network-simplex", "auto"):
        assert emd(x=x[:, 0], y=y[:, 0], method=method).distance == pytest.approx(brute1, rel=0, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_one_dimensional_methods_match_scipy_wasserstein_distance(seed):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 40, size=2)
    x, y = rng.normal(size=n) * 2, rng.standard_t(3, size=m)
    a, b = _random_weights(rng, n, zeros=seed % 2 == 1), _random_weights(rng, m)
    ref = scipy.stats.wasserstein_distance(x, y, a, b)
    for method in ("1d", "lp", "network-simplex"):
        assert emd(a, b, x=x, y=y, method=method).distance == pytest.approx(ref, rel=1e-12, abs=1e-12)
    assert emd_1d(x, y, a, b).distance == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_one_dimensional_with_ties_and_shared_points():
    x = np.array([0.0, 0.0, 1.0, 2.0, 2.0])
    y = np.array([2.0, 0.0, 0.0, 3.0])
    a = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    b = np.array([0.4, 0.1, 0.2, 0.3])
    ref = scipy.stats.wasserstein_distance(x, y, a, b)
    for method in ("1d", "lp", "network-simplex"):
        r = emd(a, b, x=x, y=y, method=method)
        assert r.distance == pytest.approx(ref, rel=1e-12, abs=1e-15)
        assert check_duality(r).ok(1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_all_exact_methods_agree_to_1e9_on_random_instances(seed):
    rng = np.random.default_rng(1000 + seed)
    n, m = rng.integers(2, 45, size=2)
    d = 1 + seed % 3
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) * 1.5 + 0.5
    a, b = _random_weights(rng, n, zeros=seed % 3 == 0), _random_weights(rng, m)
    values = {method: emd(a, b, x=x, y=y, method=method).distance for method in EXACT}
    if d == 1:
        values["1d"] = emd(a, b, x=x, y=y, method="1d").distance
    ref = values["lp"]
    assert ref > 0
    for method, value in values.items():
        assert abs(value - ref) <= 1e-9, (method, value, ref)
    # a general cost matrix (not a metric) too: LP against network simplex
    M = rng.random((n, m)) * 3 - 1  # negative costs are allowed in the LP
    assert emd(a, b, M, "lp").distance == pytest.approx(emd(a, b, M, "network-simplex").distance, rel=0, abs=1e-9)


def test_plan_has_the_marginals_and_the_cost():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(12, 2)), rng.normal(size=(9, 2))
    a, b = _random_weights(rng, 12), _random_weights(rng, 9)
    for method in EXACT:
        r = emd(a, b, x=x, y=y, method=method)
        assert r.plan.shape == (12, 9) and r.plan.min() >= 0
        np.testing.assert_allclose(r.plan.sum(axis=1), a, rtol=0, atol=1e-12)
        np.testing.assert_allclose(r.plan.sum(axis=0), b, rtol=0, atol=1e-12)
        assert np.sum(r.plan * cost_matrix(x, y)) == pytest.approx(r.distance, rel=1e-12)
        assert float(r) == r.distance == emd2(a, b, x=x, y=y, method=method)


def test_auto_picks_the_closed_form_on_a_line_and_network_simplex_otherwise():
    rng = np.random.default_rng(3)
    assert emd(x=rng.normal(size=5), y=rng.normal(size=(6, 1))).method == "1d"
    assert emd(x=rng.normal(size=(5, 2)), y=rng.normal(size=(6, 2))).method == "network-simplex"
    assert emd(None, None, rng.random((4, 3))).method == "network-simplex"


def test_translation_of_a_point_cloud_costs_the_shift():
    # moving every point by v is optimal (cyclical monotonicity of a translation): EMD = |v|
    rng = np.random.default_rng(5)
    x = rng.normal(size=(15, 2)) * 0.2
    v = np.array([3.0, 4.0])
    for method in EXACT:
        assert emd(x=x, y=x + v, method=method).distance == pytest.approx(5.0, rel=1e-12)


def test_normalize_divides_each_side_by_its_total():
    rng = np.random.default_rng(9)
    M = rng.random((5, 4))
    a, b = rng.random(5) * 7, rng.random(4) * 0.1
    r = emd(a, b, M, normalize=True)
    ref = emd(a / a.sum(), b / b.sum(), M)
    assert r.distance == pytest.approx(ref.distance, rel=1e-12)
    np.testing.assert_allclose(r.a.sum(), 1.0)
    # equal totals other than one: the distance scales with the mass
    assert emd(3 * a / a.sum(), 3 * b / b.sum(), M).distance == pytest.approx(3 * ref.distance, rel=1e-12)


# --------------------------------------------------------------------------- duality


@pytest.mark.parametrize("seed", range(6))
def test_duality_holds_on_random_instances(seed):
    rng = np.random.default_rng(2000 + seed)
    n, m = rng.integers(2, 40, size=2)
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2)) + 1.0
    a, b = _random_weights(rng, n, zeros=seed % 2 == 0), _random_weights(rng, m)
    for method in EXACT:
        r = emd(a, b, x=x, y=y, method=method)
        rep = check_duality(r)
        assert not rep.same_support and rep.lipschitz is None
        assert rep.primal == pytest.approx(r.distance, rel=1e-12)
        assert rep.dual == pytest.approx(r.distance, rel=1e-9)
        assert 0 <= rep.gap <= 1e-9
        assert 0 <= rep.feasibility <= 1e-9
        assert 0 <= rep.marginals <= 1e-9
        assert 0 <= rep.slackness <= 1e-9
        assert rep.ok(1e-9)


def test_duality_detects_wrong_potentials():
    rng = np.random.default_rng(11)
    r = emd(x=rng.normal(size=(8, 2)), y=rng.normal(size=(8, 2)), method="lp")
    r.f = r.f + 0.5  # infeasible: f_i + g_j > M_ij on the plan's support
    rep = check_duality(r)
    assert rep.feasibility == pytest.approx(0.5, abs=1e-9)
    assert rep.gap == pytest.approx(0.5, abs=1e-9)
    assert not rep.ok()


@pytest.mark.parametrize("method", ["lp", "network-simplex", "1d"])
@pytest.mark.parametrize("seed", range(4))
def test_same_support_admits_g_equal_minus_f_with_f_one_lipschitz(method, seed):
    # Kantorovich-Rubinstein: on one set of points EMD = max over 1-Lipschitz phi of E_a phi - E_b phi.
    rng = np.random.default_rng(3000 + seed)
    n = int(rng.integers(3, 30))
    pts = rng.normal(size=(n, 1 if method == "1d" else 2))
    a, b = _random_weights(rng, n, zeros=seed == 1), _random_weights(rng, n)
    r = emd(a, b, x=pts, y=pts, method=method)
    rep = check_duality(r)
    assert rep.same_support
    assert rep.lipschitz <= 1 + 1e-9
    assert rep.lipschitz >= 1 - 1e-9  # mass moves, so some pair is tight
    assert rep.symmetric_gap <= 1e-9 and rep.symmetric_feasibility <= 1e-9
    assert rep.ok(1e-9)
    phi = kantorovich_potential(r)
    assert float(phi @ a - phi @ b) == pytest.approx(r.distance, rel=1e-9)


def test_same_support_detected_from_a_distance_matrix():
    rng = np.random.default_rng(12)
    pts = rng.normal(size=(10, 3))
    M = cost_matrix(pts, pts)
    rep = check_duality(emd(_random_weights(rng, 10), _random_weights(rng, 10), M, "network-simplex"))
    assert rep.same_support and rep.lipschitz <= 1 + 1e-9 and rep.ok(1e-9)


def test_one_dimensional_potential_is_the_lipschitz_witness():
    # on a line f = phi(x), g = -phi(y) with phi' = -sign(F_a - F_b): already symmetric
    x, y = np.array([0.0, 1.0, 3.0]), np.array([0.5, 2.0])
    r = emd_1d(x, y, [0.2, 0.5, 0.3], [0.6, 0.4])
    assert r.distance == pytest.approx(0.2 * 0.5 + 0.4 * 0.5 + 0.1 * 1.0 + 0.3 * 1.0, rel=1e-12)
    rep = check_duality(r)
    assert rep.ok(1e-12)
    phi_x, phi_y = r.f, -r.g
    both = np.concatenate([x, y])
    phi = np.concatenate([phi_x, phi_y])
    off = both[:, None] != both[None, :]
    assert np.max(np.abs(phi[:, None] - phi[None, :])[off] / np.abs(both[:, None] - both[None, :])[off]) <= 1 + 1e-12


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(a=[0.5, -0.1, 0.6], b=[0.5, 0.5]), r"^a contains negative"),
        (dict(a=[0.5, 0.5, 0.0], b=[np.nan, 1.0]), r"^b contains NaN"),
        (dict(a=[0.5, np.inf, 0.0], b=[0.5, 0.5]), r"^a contains NaN or infinite"),
        (dict(a=[0.5, 0.5, 0.5], b=[0.5, 0.5]), r"^a sums to 1.5 but b sums to 1.*normalize=True"),
        (dict(a=[0.5, 0.5], b=[0.5, 0.5]), r"^a has 2 weights but M's rows has 3"),
        (dict(a=[0.5, 0.3, 0.2], b=[1.0]), r"^b has 1 weights but M's columns has 2"),
        (dict(a=[[0.5, 0.3, 0.2]], b=[0.5, 0.5]), r"^a has shape \(1, 3\)"),
        (dict(a=[0.0, 0.0, 0.0], b=[0.5, 0.5]), r"^a has total mass 0"),
    ],
)
def test_bad_weights_raise_naming_the_argument(kwargs, match):
    M = np.ones((3, 2))
    for method in ("auto", "lp", "network-simplex"):
        with pytest.raises(EarthmoverError, match=match):
            emd(M=M, method=method, **kwargs)


def test_bad_costs_and_shapes_raise_naming_the_argument():
    with pytest.raises(EarthmoverError, match=r"^M contains NaN"):
        emd(None, None, [[0.0, np.nan], [1.0, 0.0]])
    with pytest.raises(EarthmoverError, match=r"^M contains NaN or infinite"):
        emd(None, None, [[0.0, np.inf], [1.0, 0.0]])
    with pytest.raises(EarthmoverError, match=r"^M has shape \(3,\)"):
        emd(None, None, [1.0, 2.0, 3.0])
    with pytest.raises(EarthmoverError, match=r"^M is empty"):
        emd([], [], np.zeros((0, 0)))
    with pytest.raises(EarthmoverError, match=r"^x is empty"):
        emd(x=np.zeros((0, 2)), y=np.zeros((3, 2)))
    with pytest.raises(EarthmoverError, match=r"^y is empty"):
        emd_1d([1.0], [])
    with pytest.raises(EarthmoverError, match=r"^x has dimension 2 but y has 3"):
        emd(x=np.zeros((2, 2)), y=np.zeros((3, 3)))
    with pytest.raises(EarthmoverError, match=r"^x contains NaN"):
        emd(x=[0.0, np.nan], y=[1.0])
    with pytest.raises(EarthmoverError, match=r"^a has 2 weights but x has 3"):
        emd([0.5, 0.5], None, x=[0.0, 1.0, 2.0], y=[1.0])
    with pytest.raises(EarthmoverError, match=r"either the cost matrix M or the points"):
        emd(None, None, np.ones((2, 2)), x=[0.0, 1.0], y=[0.0, 1.0])
    with pytest.raises(EarthmoverError, match=r"no ground cost"):
        emd([1.0], [1.0])
    with pytest.raises(EarthmoverError, match=r"^method='1d' needs the points"):
        emd(None, None, np.ones((2, 2)), method="1d")
    with pytest.raises(EarthmoverError, match=r"^method='1d' needs points on a line"):
        emd(x=np.zeros((2, 2)), y=np.ones((2, 2)), method="1d")
    with pytest.raises(EarthmoverError, match=r"^method='simplex' is not known"):
        emd(None, None, np.ones((2, 2)), method="simplex")
    with pytest.raises(EarthmoverError, match=r"^M could not be read"):
        emd(None, None, [["a", "b"]])


def test_tiny_total_mismatch_is_rounding_not_an_error():
    # a float32 histogram normalized to 1 sums to 1 only within ~1e-7
    a = np.full(3, np.float32(1 / 3)).astype(np.float64)
    r = emd(a, [0.5, 0.5], np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]), "lp")
    assert r.b.sum() == pytest.approx(a.sum(), rel=1e-15)


def test_solver_stopping_before_optimality_raises():
    rng = np.random.default_rng(13)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 2))
    a, b = _random_weights(rng, 40), _random_weights(rng, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # POT warns before we raise
        with pytest.raises(
            EarthmoverError, match=r"^method='network-simplex'.*stopped at the iteration limit.*max_iter"
        ):
            emd(a, b, x=x, y=y, method="network-simplex", max_iter=3)
    with pytest.raises(EarthmoverError, match=r"^method='lp'.*did not reach optimality.*max_iter"):
        emd(a, b, x=x, y=y, method="lp", max_iter=1)
    # and the same problem solves with the default limit
    assert emd(a, b, x=x, y=y, method="network-simplex").distance > 0


# --------------------------------------------------------------------------- against POT's names
def test_emd_returns_a_result_whose_plan_is_pots_ot_emd_and_whose_distance_is_ot_emd2():
    """earthmover.ot.emd shares POT's name and arguments but returns a result object (its docstring
    says so): .plan is what ot.emd(a, b, M) returns, .distance what ot.emd2(a, b, M) returns."""
    import ot as pot

    rng = np.random.default_rng(3)
    a, b = _random_weights(rng, 6), _random_weights(rng, 5)
    M = cost_matrix(rng.normal(size=(6, 2)), rng.normal(size=(5, 2)))  # generic points: one optimal plan
    for method in EXACT:
        result = emd(a, b, M, method)
        np.testing.assert_allclose(result.plan, pot.emd(a, b, M), atol=1e-12)
        assert result.distance == pytest.approx(pot.emd2(a, b, M), rel=1e-12)
        assert emd2(a, b, M, method) == result.distance
