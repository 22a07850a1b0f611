"""Evaluator, reference resolution and caching, and the `fid` and `eval` commands (fake sampler)."""

import json
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from earthmover.cli import main
from earthmover.errors import EarthmoverError
from earthmover.metrics import Evaluator, evaluate

DATA = Path(__file__).parent / "data" / "mnist_small.npz"


@pytest.fixture(scope="module")
def mnist():
    with np.load(DATA) as d:
        return {k: d[k] for k in d}


def to_float(a):
    return torch.from_numpy(a).float().div(127.5).sub(1.0).unsqueeze(1)


def sequential(images):
    state = {"i": 0}

    def sample_fn(m):
        out = images[state["i"] : state["i"] + m]
        state["i"] += m
        return out

    return sample_fn


def test_samples_identical_to_the_reference_score_fid_zero(mnist):
    ref = mnist["x_train"][:200]
    ev = Evaluator(["fid", "pr"], features="digits", reference=ref, n=200)
    scores = ev(sequential(to_float(ref)))
    assert scores["fid"] == pytest.approx(0.0, abs=1e-6)
    assert (scores["precision"], scores["recall"]) == (1.0, 1.0)


def test_all_metrics_with_provenance(metrics_env, mnist):
    ev = Evaluator(
        ["fid", "kid", "is", "pr", "coverage"],
        features="digits",
        reference="mnist:train",
        n=150,
        n_reference=300,
        kid_subsets=10,
        kid_subset_size=100,
        is_splits=2,
    )
    results = ev.results(sequential(to_float(mnist["x_test"])))
    by = {r.name: r for r in results}
    assert set(by) == {"fid", "kid", "is", "precision", "recall", "coverage"}
    assert (by["fid"].n_samples, by["fid"].n_reference) == (150, 300)
    assert by["fid"].reference == "mnist:train" and by["fid"].features == "digits"
    assert by["fid"].extractor_id.startswith("digits-")
    assert (by["precision"].n_samples, by["precision"].n_reference) == (150, 150)
    assert by["kid"].extra == {"subsets": 10, "subset_size": 100}
    assert 0 < by["fid"].value < 20  # real test digits against real train digits
    assert by["coverage"].value == 10 and by["is"].value > 5
    assert json.dumps([r.to_dict() for r in results])  # serializable
    cached = list((metrics_env / "cache" / "reference").glob("mnist_train-*-digits-*-n300.npz"))
    assert len(cached) == 1
    again = Evaluator(["fid"], features="digits", reference="mnist:train", n=150, n_reference=300)
    assert again(sequential(to_float(mnist["x_test"])))["fid"] == pytest.approx(by["fid"].value, rel=1e-12)


def test_evaluate_function_on_a_tensor(metrics_env, mnist):
    scores = evaluate(to_float(mnist["x_test"][:100]), ["fid", "is", "coverage"], "digits", "mnist:train")
    assert set(scores) == {"fid", "is", "is_std", "coverage", "coverage_kl"}


def test_bad_arguments_are_user_errors(metrics_env):
    with pytest.raises(EarthmoverError, match="unknown ssim"):
        Evaluator(["fid", "ssim"])
    with pytest.raises(EarthmoverError, match="nosuch"):
        Evaluator(["fid"], reference="nosuch:test").reference_features()
    with pytest.raises(EarthmoverError, match="pip install"):
        Evaluator(["fid"], features="inception")
    with pytest.raises(EarthmoverError, match="needs --features digits"):
        Evaluator(["coverage"], features="inception")


def test_fid_command_on_npz_and_png_folder(metrics_env, mnist, capsys):
    from PIL import Image

    out = metrics_env / "fid.json"
    assert (
        main(
            ["fid", f"{DATA}:test", f"{DATA}:train", "--n", "120", "--features", "digits", "--kid", "--json", str(out)]
        )
        == 0
    )
    table = capsys.readouterr().out
    assert "fid" in table and "kid" in table and "120" in table
    payload = json.loads(out.read_text())
    fid_npz = payload["results"][0]
    assert (fid_npz["name"], fid_npz["n_samples"], fid_npz["n_reference"]) == ("fid", 120, 120)
    folder = metrics_env / "pngs"
    folder.mkdir()
    for i, img in enumerate(mnist["x_test"][:120]):
        Image.fromarray(img).save(folder / f"{i:04d}.png")
    out2 = metrics_env / "fid2.json"
    assert main(["fid", str(folder), f"{DATA}:train", "--n", "120", "--features", "digits", "--json", str(out2)]) == 0
    assert json.loads(out2.read_text())["results"][0]["value"] == pytest.approx(fid_npz["value"], rel=1e-9)


def test_fid_command_errors_exit_2(metrics_env, capsys):
    assert main(["fid", str(metrics_env / "missing.npz"), f"{DATA}:train", "--features", "digits"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["fid", f"{DATA}:test", f"{DATA}:train"]) == 2  # inception by default; none installed here
    assert "pip install -e '.[inception]'" in capsys.readouterr().err


class FakeSampler:
    def __init__(self, images, name):
        self.images, self.calls = images, []
        self.config = types.SimpleNamespace(data=types.SimpleNamespace(name=name))

    def sample(self, n, seed=0):
        self.calls.append((n, seed))
        start = (len(self.calls) - 1) * n
        return self.images[start : start + n]


def fake_state(monkeypatch, sampler):
    from earthmover.train import sampler as sampler_module

    seen = {}

    def load_sampler(run_dir, checkpoint=None, use_ema=True, device="cpu"):
        seen.update(run_dir=run_dir, checkpoint=checkpoint, use_ema=use_ema, device=device)
        return sampler

    monkeypatch.setattr(sampler_module, "load_sampler", load_sampler)
    return seen


def test_eval_command_with_a_fake_sampler(metrics_env, mnist, monkeypatch, capsys):
    sampler = FakeSampler(to_float(mnist["x_test"]), "mnist")
    seen = fake_state(monkeypatch, sampler)
    out = metrics_env / "eval.json"
    rc = main(
        [
            "eval",
            "--run",
            str(metrics_env),
            "--metrics",
            "fid,kid,is,pr,coverage",
            "--n",
            "200",
            "--batch-size",
            "50",
            "--features",
            "digits",
            "--json",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert seen == {"run_dir": str(metrics_env), "checkpoint": None, "use_ema": True, "device": "cpu"}
    assert [n for n, _ in sampler.calls] == [50, 50, 50, 50]
    assert len({s for _, s in sampler.calls}) == 4  # a fresh seed per batch
    payload = json.loads(out.read_text())
    names = [r["name"] for r in payload["results"]]
    assert names == ["fid", "kid", "is", "precision", "recall", "coverage"]
    assert payload["results"][0]["reference"] == "mnist:test"
    assert payload["ema"] is True


def test_eval_command_refuses_toy_points(metrics_env, monkeypatch, capsys):
    fake_state(monkeypatch, FakeSampler(torch.zeros(100, 2), "25gaussians"))
    assert (
        main(
            [
                "eval",
                "--run",
                str(metrics_env),
                "--metrics",
                "fid",
                "--n",
                "50",
                "--features",
                "digits",
                "--reference",
                f"{DATA}:train",
            ]
        )
        == 2
    )
    assert "not images" in capsys.readouterr().err


def test_eval_reference_is_the_split_the_source_declares(monkeypatch):
    """eval's default reference asks the image-source registry, so a plug-in source's own test split is used."""
    from earthmover.data.sources import registry as sources
    from earthmover.metrics.command import default_reference

    held_out = sources.ImageSource("heldout-digits", lambda *a, **k: None, splits=("train", "val"), test_split="val")
    whole = sources.ImageSource("whole-digits", lambda *a, **k: None, splits=("train",), test_split=None)
    monkeypatch.setitem(sources.IMAGE_SOURCES._entries, "heldout-digits", held_out)
    monkeypatch.setitem(sources.IMAGE_SOURCES._entries, "whole-digits", whole)
    assert default_reference("mnist") == "mnist:test"
    assert default_reference("heldout-digits") == "heldout-digits:val"
    assert default_reference("whole-digits") == "whole-digits"  # no held-out split: its own images
    assert default_reference("mnist:train") == "mnist:train"
    assert default_reference("runs/x.npz") == "runs/x.npz"
    assert default_reference(None) is None
