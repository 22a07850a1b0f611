"""The packaged digit classifier: small, loads with weights_only, classifies real MNIST test digits."""

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from earthmover.metrics.digits import FEATURE_DIM, DigitClassifier, load_digit_cnn
from earthmover.metrics.inception_score import inception_score

DATA = Path(__file__).parent / "data" / "mnist_small.npz"


@pytest.fixture(scope="module")
def digits():
    with np.load(DATA) as d:
        x = torch.from_numpy(d["x_test"]).float().div(127.5).sub(1.0).unsqueeze(1)
        return x, torch.from_numpy(d["y_test"]).long()


@pytest.fixture(scope="module")
def clf():
    return DigitClassifier()


def test_weights_ship_in_the_package_small_and_weights_only():
    path = resources.files("earthmover.metrics").joinpath("weights/digits_cnn.pt")
    assert path.is_file()
    assert len(path.read_bytes()) < 1_000_000
    with resources.as_file(path) as p:
        state = torch.load(p, map_location="cpu", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert not load_digit_cnn().training


def test_classifies_real_test_digits(clf, digits):
    x, y = digits
    pred = clf.predict(x)
    assert torch.equal(pred[:20], y[:20])
    assert (pred == y).float().mean().item() >= 0.98


def test_features_and_probabilities(clf, digits):
    x, _ = digits
    f, p = clf.features_and_probs(x[:32])
    assert f.shape == (32, FEATURE_DIM) and (f >= 0).all()
    assert p.shape == (32, 10) and torch.allclose(p.sum(1), torch.ones(32, dtype=p.dtype))
    # RGB and other sizes are brought to 28x28 gray: a replicated RGB digit gives the same answer.
    torch.testing.assert_close(clf.features(x[:8].repeat(1, 3, 1, 1)), clf.features(x[:8]))
    big = torch.nn.functional.interpolate(x[:64], size=(32, 32), mode="bilinear", align_corners=False)
    assert (clf.predict(big) == clf.predict(x[:64])).float().mean() >= 0.9


def test_real_digits_score_high_on_is_and_cover_all_classes(clf, digits):
    from earthmover.metrics.coverage import class_coverage

    x, _ = digits
    probs = clf.probs(x).numpy()
    is_mean, _ = inception_score(probs, splits=2)
    assert 7.0 < is_mean <= 10.0
    cov = class_coverage(probs)
    assert cov.covered == 10
    assert 0.0 <= cov.kl_to_uniform < 0.05
