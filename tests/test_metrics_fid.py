"""FID: zero on itself, the closed form for Gaussians, and agreement with an independent computation."""

import numpy as np
import pytest
from scipy import linalg

from earthmover.errors import EarthmoverError
from earthmover.metrics.fid import fid, frechet_distance, gaussian_stats, trace_sqrt_product


def independent_frechet(mu1, s1, mu2, s2):
    """tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) via symmetric eigendecompositions (no sqrtm)."""
    w, v = linalg.eigh(s1)
    s1_half = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = linalg.eigvalsh(s1_half @ s2 @ s1_half)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(np.clip(inner, 0, None))))


def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 32)) * 3 + 1
    assert fid(x, x) == pytest.approx(0.0, abs=1e-6)


def test_fid_is_never_negative_even_where_sqrtm_rounds_below_zero():
    # fewer samples than dimensions: a singular covariance, where sqrtm's rounding gave about -4e-7
    for seed in range(3):
        x = np.random.default_rng(seed).normal(size=(50, 64))
        assert fid(x, x) >= 0.0


def test_fid_between_gaussians_equals_the_closed_form():
    # Commuting covariances (same eigenvectors R): FID = |m1-m2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
    rng = np.random.default_rng(1)
    r, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    a, b = np.array([1.0, 2.0, 0.5, 4.0, 9.0]), np.array([4.0, 1.0, 0.5, 1.0, 1.0])
    mu1, mu2 = np.arange(5.0), np.arange(5.0)[::-1].copy()
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, r @ np.diag(a) @ r.T, mu2, r @ np.diag(b) @ r.T) == pytest.approx(expected, rel=1e-9)


def test_fid_of_one_dimensional_gaussians():
    # N(m1, s1^2) vs N(m2, s2^2): (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(9.0 + 1.0, rel=1e-12)


def test_fid_from_samples_approaches_the_population_value():
    rng = np.random.default_rng(2)
    n = 200_000
    x = rng.normal(size=(n, 2)) * [1.0, 2.0]
    y = rng.normal(size=(n, 2)) * [2.0, 2.0] + [1.0, 0.0]
    expected = 1.0 + (1.0 - 2.0) ** 2 + 0.0  # mean shift 1, std 1 -> 2 on the first axis
    assert fid(x, y) == pytest.approx(expected, rel=0.02)


def test_fid_agrees_with_an_independent_computation_on_random_features():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 20)) @ rng.normal(size=(20, 20))
    y = rng.normal(size=(300, 20)) @ rng.normal(size=(20, 20)) + 0.5
    value = fid(x, y)
    assert value == pytest.approx(independent_frechet(*gaussian_stats(x), *gaussian_stats(y)), rel=1e-8)
    assert value > 1.0


def test_fid_is_finite_and_right_when_covariances_are_singular():
    # Fewer samples than dimensions: rank-deficient covariances, as with 2048-d features and few images.
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(20, 50)), rng.normal(size=(20, 50)) + 0.3
    value = fid(x, y)
    assert np.isfinite(value)
    assert value == pytest.approx(independent_frechet(*gaussian_stats(x), *gaussian_stats(y)), rel=1e-3)


def test_fid_rejects_mismatched_features():
    with pytest.raises(EarthmoverError):
        fid(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(EarthmoverError):
        fid(np.zeros((1, 3)), np.zeros((10, 3)))


def test_trace_term_of_non_commuting_covariances_matches_the_two_by_two_closed_form():
    # For 2x2 PSD A, B: tr sqrt(AB) = sqrt(tr(AB) + 2 sqrt(det(AB))) (Cayley-Hamilton for sqrt of a 2x2 matrix).
    a = np.array([[2.0, 0.3], [0.3, 0.5]])
    b = np.array([[1.0, -0.7], [-0.7, 3.0]])
    ab = a @ b
    expected_trace = np.sqrt(np.trace(ab) + 2.0 * np.sqrt(np.linalg.det(ab)))
    assert trace_sqrt_product(a, b) == pytest.approx(expected_trace, rel=1e-12)
    expected = np.trace(a) + np.trace(b) - 2.0 * expected_trace
    assert frechet_distance(np.zeros(2), a, np.zeros(2), b) == pytest.approx(expected, rel=1e-12)


def test_trace_term_is_real_for_singular_diagonal_covariances():
    # Rank-deficient diagonal covariances, where sqrtm of the product returned imaginary parts in
    # SciPy 1.11 (pytorch-fid #103): tr sqrt(diag(a) diag(b)) = sum sqrt(a_i b_i) exactly.
    a = np.array([4.0, 0.0, 1e-12, 9.0, 0.0] * 40)
    b = np.array([1.0, 5.0, 3.0, 0.0, 0.0] * 40)
    value = trace_sqrt_product(np.diag(a), np.diag(b))
    assert isinstance(value, float)
    assert value == pytest.approx(np.sum(np.sqrt(a * b)), rel=1e-9)
    fd = frechet_distance(np.zeros(200), np.diag(a), np.ones(200), np.diag(b))
    assert fd == pytest.approx(200 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2), rel=1e-9)
