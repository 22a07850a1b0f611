"""Sample-set distances: exact emd_samples, sliced Wasserstein, Sinkhorn as an approximation."""

import numpy as np
import pytest
import scipy.stats

from earthmover.errors import EarthmoverError
from earthmover.ot import emd, emd_samples, sinkhorn, sliced_wasserstein


def _clouds(seed=0, n=60, m=60, d=2):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) * 0.7 + 1.0


def test_assignment_path_equals_the_network_simplex():
    X, Y = _clouds(0)
    ref = emd(x=X, y=Y, method="network-simplex").distance
    assert emd_samples(X, Y) == pytest.approx(ref, rel=1e-12)
    assert emd(x=X, y=Y, method="lp").distance == pytest.approx(ref, rel=0, abs=1e-9)


def test_unequal_sizes_and_weights_use_exact_transport():
    X, Y = _clouds(1, n=30, m=45)
    assert emd_samples(X, Y) == pytest.approx(emd(x=X, y=Y, method="lp").distance, rel=0, abs=1e-9)
    rng = np.random.default_rng(2)
    a, b = rng.random(30), rng.random(45)
    ref = emd(a / a.sum(), b / b.sum(), x=X, y=Y, method="lp").distance
    assert emd_samples(X, Y, a, b, normalize=True) == pytest.approx(ref, rel=0, abs=1e-9)


def test_one_dimensional_samples_match_scipy():
    rng = np.random.default_rng(3)
    u, v = rng.normal(size=70), rng.exponential(size=50)
    assert emd_samples(u, v) == pytest.approx(scipy.stats.wasserstein_distance(u, v), rel=1e-12)
    assert emd_samples(u[:50], v) == pytest.approx(scipy.stats.wasserstein_distance(u[:50], v), rel=1e-12)


def test_torch_tensors_in_float_out():
    torch = pytest.importorskip("torch")
    X, Y = _clouds(4, n=20, m=20)
    tx = torch.tensor(X, dtype=torch.float32, requires_grad=True)
    ty = torch.tensor(Y, dtype=torch.float32)
    value = emd_samples(tx, ty)
    assert type(value) is float
    ref = emd_samples(X.astype(np.float32), Y.astype(np.float32))
    assert value == ref
    assert value == pytest.approx(emd_samples(X, Y), rel=1e-6)
    assert type(sliced_wasserstein(tx, ty, 10)) is float


def test_sliced_is_a_reproducible_lower_bound():
    X, Y = _clouds(5)
    w = emd_samples(X, Y)
    sw = sliced_wasserstein(X, Y, n_projections=200, seed=7)
    assert 0 < sw <= w
    assert sw == sliced_wasserstein(X, Y, n_projections=200, seed=7)
    assert sw != sliced_wasserstein(X, Y, n_projections=200, seed=8)
    # a translation by v: every projection moves by <theta, v>, so SW = |v| E|theta_1| (> 0.5 |v| in 2-D)
    v = np.array([3.0, 0.0])
    sw_shift = sliced_wasserstein(X, X + v, n_projections=4000, seed=0)
    assert sw_shift == pytest.approx(3.0 * 2 / np.pi, rel=0.03)  # E|cos| = 2/pi on the circle


def test_sliced_equals_emd_in_one_dimension():
    rng = np.random.default_rng(6)
    u, v = rng.normal(size=(40, 1)), rng.normal(size=(25, 1)) + 0.5
    assert sliced_wasserstein(u, v, n_projections=3) == pytest.approx(emd_samples(u, v), rel=1e-12)
    assert sliced_wasserstein(u[:25], v, n_projections=3) == pytest.approx(emd_samples(u[:25], v), rel=1e-12)


def test_sinkhorn_approximates_from_above_and_converges():
    X, Y = _clouds(8, n=40, m=50)
    w = emd_samples(X, Y)
    values = [sinkhorn(X, Y, reg=reg) for reg in (1.0, 0.1, 0.01)]
    assert all(v >= w - 1e-7 for v in values)
    assert values[0] > values[1] > values[2]
    assert values[2] == pytest.approx(w, rel=0.02)


def test_bad_sample_sets_raise():
    with pytest.raises(EarthmoverError, match=r"^X has dimension 2 but Y has 3"):
        emd_samples(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(EarthmoverError, match=r"^Y is empty"):
        emd_samples(np.zeros((3, 2)), np.zeros((0, 2)))
    with pytest.raises(EarthmoverError, match=r"^n_projections=0"):
        sliced_wasserstein(np.zeros((3, 2)), np.ones((3, 2)), n_projections=0)
    with pytest.raises(EarthmoverError, match=r"^reg=0"):
        sinkhorn(np.zeros((3, 2)), np.ones((3, 2)), reg=0)
    with pytest.raises(EarthmoverError, match=r"^b contains negative"):
        emd_samples(np.zeros((3, 2)), np.ones((2, 2)), None, [1.5, -0.5])
