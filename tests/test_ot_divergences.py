"""KL, JS, TV conventions, and the parallel-lines example: closed forms and estimates from samples."""

import math

import numpy as np
import pytest

from earthmover.errors import EarthmoverError
from earthmover.ot import (
    histogram_divergences,
    js,
    kl,
    parallel_lines,
    parallel_lines_estimates,
    parallel_lines_samples,
    tv,
)

LOG2 = math.log(2.0)


def test_kl_by_hand_and_its_conventions():
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.5, 0.25])
    assert kl(p, q) == pytest.approx(0.5 * math.log(2.0), rel=1e-14)  # 0 log 0 = 0
    assert kl(q, p) == math.inf  # q > 0 where p = 0
    assert kl(p, p) == 0.0
    assert kl([2, 2, 0], [1, 2, 1]) == pytest.approx(kl(p, q), rel=1e-14)  # counts are normalized


def test_js_is_symmetric_bounded_and_log2_on_disjoint_supports():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, q = rng.random(6), rng.random(6)
        v = js(p, q)
        assert 0.0 <= v <= LOG2
        assert v == pytest.approx(js(q, p), rel=1e-12)
        m = (p / p.sum() + q / q.sum()) / 2
        assert v == pytest.approx(0.5 * kl(p, m) + 0.5 * kl(q, m), rel=1e-12)
    assert js([1, 2, 0, 0], [0, 0, 3, 1]) == pytest.approx(LOG2, rel=0, abs=1e-15)
    assert js([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0, abs=1e-15)


def test_tv_is_the_largest_event_difference():
    rng = np.random.default_rng(1)
    p, q = rng.random(5), rng.random(5)
    p, q = p / p.sum(), q / q.sum()
    # brute force over all 2^5 events A
    best = 0.0
    for mask in range(32):
        A = np.array([(mask >> k) & 1 for k in range(5)], dtype=bool)
        best = max(best, abs(p[A].sum() - q[A].sum()))
    assert tv(p, q) == pytest.approx(best, rel=1e-12)
    assert tv([1, 0], [0, 1]) == 1.0
    assert tv([1, 1], [1, 1]) == 0.0


@pytest.mark.parametrize("fn", [kl, js, tv])
def test_bad_histograms_raise_naming_the_argument(fn):
    with pytest.raises(EarthmoverError, match=r"^p has shape \(2,\) but q has \(3,\)"):
        fn([1, 1], [1, 1, 1])
    with pytest.raises(EarthmoverError, match=r"^q contains negative"):
        fn([1, 1], [1, -1])
    with pytest.raises(EarthmoverError, match=r"^p contains NaN"):
        fn([np.nan, 1], [1, 1])
    with pytest.raises(EarthmoverError, match=r"^q has total mass 0"):
        fn([1, 1], [0, 0])
    with pytest.raises(EarthmoverError, match=r"empty"):
        fn([], [])


@pytest.mark.parametrize("theta", [-2.0, -0.1, 1e-6, 0.5, 3.0])
def test_parallel_lines_closed_forms(theta):
    pl = parallel_lines(theta)
    assert pl.w == abs(theta)
    assert pl.js == LOG2 and pl.kl == math.inf and pl.tv == 1.0


def test_parallel_lines_at_zero_are_all_zero():
    pl = parallel_lines(0.0)
    assert (pl.w, pl.js, pl.kl, pl.tv) == (0.0, 0.0, 0.0, 0.0)
    with pytest.raises(EarthmoverError, match=r"^theta=nan"):
        parallel_lines(float("nan"))


def test_parallel_lines_samples_lie_on_the_lines():
    X, Y = parallel_lines_samples(0.7, 50, seed=3)
    assert X.shape == Y.shape == (50, 2)
    assert np.all(X[:, 0] == 0.0) and np.all(Y[:, 0] == 0.7)
    assert 0 <= X[:, 1].min() and X[:, 1].max() < 1 and 0 <= Y[:, 1].min() and Y[:, 1].max() < 1
    X2, _ = parallel_lines_samples(0.7, 50, seed=3)
    np.testing.assert_array_equal(X, X2)


@pytest.mark.parametrize("theta", [-1.0, 1e-3, 0.25, 2.0])
def test_parallel_lines_estimates_reproduce_the_closed_forms(theta):
    est = parallel_lines_estimates(theta, n=400, seed=0)
    exact = parallel_lines(theta)
    # the vertical mismatch of two samples only adds: |theta| <= W_hat <= sqrt(theta^2 + dy^2)
    assert abs(theta) - 1e-12 <= est.w <= abs(theta) + 0.06
    assert est.js == pytest.approx(exact.js, rel=0, abs=1e-12)
    assert est.kl == math.inf
    assert est.tv == pytest.approx(1.0, rel=0, abs=1e-12)


def test_parallel_lines_estimates_at_zero_are_small():
    est = parallel_lines_estimates(0.0, n=1000, seed=1, bins=5)
    assert 0 <= est.w <= 0.06  # W between two 1000-samples of U(0,1): ~ 0.02
    assert 0 <= est.js <= 0.01 and 0 <= est.kl <= 0.03 and 0 <= est.tv <= 0.1


def test_estimated_w_shrinks_towards_theta_as_n_grows():
    small = parallel_lines_estimates(0.3, n=50, seed=2).w
    large = parallel_lines_estimates(0.3, n=1500, seed=2).w
    assert 0.3 <= large < small
    assert large == pytest.approx(0.3, abs=3e-3)


def test_histogram_divergences_need_planar_samples():
    with pytest.raises(EarthmoverError, match=r"\(n, 2\)"):
        histogram_divergences(np.zeros((3, 3)), np.zeros((3, 3)))
