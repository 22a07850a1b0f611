"""KID: the unbiased MMD^2 estimator with the cubic polynomial kernel."""

import numpy as np
import pytest

from earthmover.metrics.kid import kid, mmd2_unbiased, polynomial_kernel


def exact_mmd2(a, b):
    """MMD^2 between uniform distributions on the rows of a and of b (i.i.d. draws may coincide)."""
    return polynomial_kernel(a, a).mean() + polynomial_kernel(b, b).mean() - 2 * polynomial_kernel(a, b).mean()


def biased_mmd2(x, y):
    return polynomial_kernel(x, x).mean() + polynomial_kernel(y, y).mean() - 2 * polynomial_kernel(x, y).mean()


def test_kernel_is_the_cubic_polynomial():
    x, y = np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]])
    assert polynomial_kernel(x, y)[0, 0] == pytest.approx(((1 * 3 + 2 * -1) / 2 + 1) ** 3)


def _draws(a, b, m, reps, rng):
    est, biased = np.empty(reps), np.empty(reps)
    for i in range(reps):
        x, y = a[rng.integers(0, len(a), m)], b[rng.integers(0, len(b), m)]
        est[i], biased[i] = mmd2_unbiased(x, y), biased_mmd2(x, y)
    return est, biased


def test_unbiased_estimator_averages_to_the_exact_mmd2():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 3))
    b = rng.normal(size=(5, 3)) + 0.7
    truth = exact_mmd2(a, b)
    est, biased = _draws(a, b, m=4, reps=6000, rng=rng)
    se = est.std() / np.sqrt(len(est))
    assert abs(est.mean() - truth) < 4 * se
    # The V-statistic with diagonal terms is visibly biased at this sample size: the test can tell.
    assert abs(biased.mean() - truth) > 10 * se


def test_unbiased_estimator_averages_to_zero_for_one_distribution():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(8, 4))
    est, biased = _draws(a, a, m=5, reps=6000, rng=rng)
    se = est.std() / np.sqrt(len(est))
    assert abs(est.mean()) < 4 * se
    assert biased.mean() > 10 * se


def test_kid_over_full_subsets_equals_the_estimator_with_zero_spread():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(50, 8)), rng.normal(size=(50, 8)) + 0.2
    mean, std = kid(x, y, num_subsets=5, subset_size=50)
    assert mean == pytest.approx(mmd2_unbiased(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_grows_with_the_shift_and_is_seeded():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 16))
    near, far = rng.normal(size=(400, 16)) + 0.1, rng.normal(size=(400, 16)) + 1.0
    assert kid(x, far, 20, 100)[0] > kid(x, near, 20, 100)[0] > -0.05
    assert kid(x, near, 10, 100, seed=7) == kid(x, near, 10, 100, seed=7)
