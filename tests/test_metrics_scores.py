"""Inception Score, precision/recall, class coverage and InfoGAN code accuracy on constructed cases."""

import numpy as np
import pytest

from earthmover.errors import EarthmoverError
from earthmover.metrics.coverage import class_coverage, code_accuracy
from earthmover.metrics.inception_score import inception_score
from earthmover.metrics.precision_recall import knn_radii, precision_recall


def test_inception_score_is_one_for_identical_predictions():
    p = np.tile(np.array([0.2, 0.5, 0.3]), (100, 1))
    mean, std = inception_score(p)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_is_k_for_confident_balanced_predictions():
    k = 7
    p = np.eye(k)[np.arange(10 * k * 3) % k]  # every split holds each class 3 times
    mean, std = inception_score(p, splits=10)
    assert mean == pytest.approx(k, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_of_a_two_class_mixture():
    # Half the samples say (1, 0), half say (0.5, 0.5): p(y) = (0.75, 0.25).
    p = np.array([[1.0, 0.0], [0.5, 0.5]] * 50)
    kl1 = np.log(1 / 0.75)
    kl2 = 0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(0.5 / 0.25)
    assert inception_score(p, splits=1)[0] == pytest.approx(np.exp((kl1 + kl2) / 2), rel=1e-12)


def test_inception_score_rejects_logits():
    with pytest.raises(EarthmoverError):
        inception_score(np.random.default_rng(0).normal(size=(20, 3)))


def test_precision_recall_of_identical_sets_is_one_and_one():
    x = np.random.default_rng(0).normal(size=(200, 5))
    assert precision_recall(x, x.copy()) == (1.0, 1.0)


def test_precision_recall_of_far_disjoint_sets_is_zero_and_zero():
    rng = np.random.default_rng(1)
    assert precision_recall(rng.normal(size=(200, 5)), rng.normal(size=(200, 5)) + 100.0) == (0.0, 0.0)


def test_precision_counts_the_fakes_on_the_real_manifold():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(200, 4))
    fake = np.concatenate([real[:100], rng.normal(size=(100, 4)) + 50.0])
    precision, recall = precision_recall(real, fake)
    assert precision == 0.5
    # recall from the definition, point by point: a real sample counts when it lies within some fake's
    # distance to that fake's 3rd nearest other fake. The 100 copied reals count (distance 0); the far
    # fakes' balls reach no real; of the other 100 reals, those inside a copy's ball count.
    dist = lambda a, b: float(np.sqrt(((a - b) ** 2).sum()))  # noqa: E731
    radius = [sorted(dist(f, g) for j, g in enumerate(fake) if j != i)[2] for i, f in enumerate(fake)]
    expected = np.mean([any(dist(r, f) <= radius[j] for j, f in enumerate(fake)) for r in real])
    assert 0.5 < expected < 1.0
    assert recall == expected


def test_knn_radius_is_the_kth_neighbour_excluding_the_point():
    x = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
    # neighbours of 0: 1, 3, 6 -> 3rd is 6; of 10: 6, 3, 1 -> 9
    np.testing.assert_allclose(knn_radii(x, k=3), [6.0, 5.0, 3.0, 5.0, 9.0])


def test_class_coverage_counts_classes_and_kl_to_uniform():
    one = class_coverage(np.zeros(50, dtype=int))
    assert (one.covered, one.kl_to_uniform) == (1, pytest.approx(np.log(10)))
    balanced = class_coverage(np.arange(100) % 10)
    assert (balanced.covered, balanced.kl_to_uniform) == (10, pytest.approx(0.0, abs=1e-12))
    probs = np.eye(10)[[3, 3, 4, 5]]
    cov = class_coverage(probs)
    assert cov.covered == 3
    assert cov.histogram[3] == 0.5
    assert cov.kl_to_uniform == pytest.approx(0.5 * np.log(5) + 2 * 0.25 * np.log(2.5))


def test_class_coverage_ignores_rare_stray_predictions():
    labels = np.concatenate([np.arange(995) % 5, [5, 6, 7, 8, 9]])  # five classes plus one stray each
    assert class_coverage(labels).covered == 5  # a class needs >= 10% of its uniform share (10 of 1000)
    assert class_coverage(labels, min_share=0).covered == 10
    assert class_coverage(np.concatenate([labels, np.full(10, 9)])).covered == 6


def test_code_accuracy_finds_the_best_one_to_one_matching():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 10, 1000)
    perm = rng.permutation(10)
    acc, mapping = code_accuracy(perm[codes], codes, num_classes=10)
    assert acc == 1.0
    assert mapping == {c: int(perm[c]) for c in range(10)}
    noisy = perm[codes].copy()
    noisy[:100] = (noisy[:100] + 1) % 10  # 10% of predictions wrong
    assert code_accuracy(noisy, codes, 10)[0] == pytest.approx(1 - np.mean(noisy != perm[codes]))
    # Codes 0 and 1 collapsed onto one class: a one-to-one matching credits only the more frequent one.
    collapsed = np.where(codes == 1, 0, codes)
    lost = min(np.mean(codes == 0), np.mean(codes == 1))
    assert code_accuracy(collapsed, codes, 10)[0] == pytest.approx(1 - lost)
