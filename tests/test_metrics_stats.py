"""FID statistics files: pytorch-fid/TTUR format, FID against them equals FID on their images, mismatches refused."""

import json
from pathlib import Path

import numpy as np
import pytest

from earthmover.cli import main
from earthmover.errors import EarthmoverError
from earthmover.metrics.stats import (
    FidStats,
    check_compatible,
    jpeg_warning,
    load_stats,
    save_stats,
    small_sample_warning,
)

DATA = Path(__file__).parent / "data" / "mnist_small.npz"


def test_fid_against_saved_statistics_equals_fid_against_their_images(metrics_env, capsys):
    stats = metrics_env / "s.npz"
    assert main(["stats", f"{DATA}:train", "--out", str(stats), "--features", "digits", "--n", "150"]) == 0
    with np.load(stats) as d:
        assert d["mu"].dtype == np.float64 and d["sigma"].dtype == np.float64
        assert d["mu"].shape == (d["sigma"].shape[0],) and d["sigma"].shape[0] == d["sigma"].shape[1]
        assert str(d["features"]) == "digits" and int(d["n"]) == 150 and str(d["resize"]) == "none"
        assert str(d["extractor_id"]).startswith("digits-")
    a, b = metrics_env / "a.json", metrics_env / "b.json"
    assert main(["fid", f"{DATA}:test", f"{DATA}:train", "--n", "150", "--features", "digits", "--json", str(a)]) == 0
    assert main(["fid", f"{DATA}:test", str(stats), "--n", "150", "--features", "digits", "--json", str(b)]) == 0
    by_images = json.loads(a.read_text())["results"][0]
    by_stats = json.loads(b.read_text())["results"][0]
    assert by_images["value"] > 1.0  # test against train digits: a real distance, not a trivial zero
    assert by_stats["value"] == pytest.approx(by_images["value"], rel=1e-6)
    assert (by_stats["n_samples"], by_stats["n_reference"]) == (150, 150)
    assert by_stats["extra"]["reference_statistics"] == str(stats)


def test_bare_pytorch_fid_file_is_read_and_a_dimension_mismatch_names_both(metrics_env, capsys):
    bare = metrics_env / "ttur.npz"
    np.savez(bare, mu=np.zeros(2048), sigma=np.eye(2048))
    stats = load_stats(bare)
    assert stats.features == "unknown" and stats.dim == 2048 and stats.n == 0
    assert main(["fid", f"{DATA}:test", str(bare), "--n", "50", "--features", "digits"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "2048-d features there" in err and "-d here" in err


def test_feature_network_and_resize_mismatch_is_refused():
    s = FidStats(np.zeros(4), np.eye(4), features="inception", extractor_id="inception-abc", resize="legacy-tf")
    with pytest.raises(EarthmoverError, match="features 'inception' there, 'digits' here"):
        check_compatible(s, "digits", "digits-xyz", 4, "none")
    with pytest.raises(EarthmoverError, match="network inception-abc there, inception-def here"):
        check_compatible(s, "inception", "inception-def", 4, "legacy-tf")
    with pytest.raises(EarthmoverError, match="resize 'legacy-tf' there, 'clean' here"):
        check_compatible(s, "inception", "inception-abc", 4, "clean")
    check_compatible(s, "inception", "inception-abc", 4, "legacy-tf")  # the same network: accepted


def test_save_and_load_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 5))
    s = FidStats(x.mean(0), np.cov(x, rowvar=False), features="digits", extractor_id="digits-1", n=30, resize="none")
    save_stats(tmp_path / "s.npz", s)
    back = load_stats(tmp_path / "s.npz")
    assert np.array_equal(back.mu, s.mu) and np.array_equal(back.sigma, s.sigma)
    assert (back.features, back.extractor_id, back.n, back.resize) == ("digits", "digits-1", 30, "none")
    assert list(tmp_path.iterdir()) == [tmp_path / "s.npz"]  # no temporary file left


def test_warnings_for_small_inception_samples_and_jpeg_folders(tmp_path):
    assert "2047 samples" in small_sample_warning("inception", 2047, 10_000)
    assert small_sample_warning("inception", 2048, 2048) is None
    assert small_sample_warning("digits", 10, 10) is None
    (tmp_path / "png").mkdir()
    (tmp_path / "png" / "a.png").write_bytes(b"")
    assert jpeg_warning(tmp_path / "png", "mnist:test") is None
    (tmp_path / "png" / "b.JPG").write_bytes(b"")
    assert "JPEG" in jpeg_warning("mnist:test", tmp_path / "png")


def test_eval_against_saved_statistics_equals_eval_against_their_images(metrics_env, monkeypatch, capsys):
    import types

    import torch

    with np.load(DATA) as d:
        fakes = torch.from_numpy(d["x_test"][:100]).float().div(127.5).sub(1.0).unsqueeze(1)

    class Sampler:
        config = types.SimpleNamespace(data=types.SimpleNamespace(name="mnist"))

        def sample(self, n, seed=0):
            return fakes[:n]

    from earthmover.train import sampler as sampler_module

    monkeypatch.setattr(sampler_module, "load_sampler", lambda *a, **k: Sampler())
    stats = metrics_env / "s.npz"
    assert main(["stats", f"{DATA}:train", "--out", str(stats), "--features", "digits"]) == 0
    common = ["eval", "--run", str(metrics_env), "--n", "100", "--batch-size", "100", "--features", "digits"]
    a, b = metrics_env / "a.json", metrics_env / "b.json"
    assert main([*common, "--metrics", "fid", "--reference", f"{DATA}:train", "--json", str(a)]) == 0
    assert main([*common, "--metrics", "fid,is", "--reference", str(stats), "--json", str(b)]) == 0
    by_images, by_stats = json.loads(a.read_text())["results"], json.loads(b.read_text())["results"]
    assert [r["name"] for r in by_stats] == ["fid", "is"]
    assert by_stats[0]["value"] == pytest.approx(by_images[0]["value"], rel=1e-6) and by_images[0]["value"] > 1.0
    capsys.readouterr()
    assert main([*common, "--metrics", "fid,kid", "--reference", str(stats)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "kid" in err and "--metrics fid" in err
