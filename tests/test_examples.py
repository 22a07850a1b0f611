"""The scripts in examples/ run, in a tiny configuration (a few steps, the shipped MNIST fixture,
never the network), so they cannot rot; each says in its docstring how to run it."""

import runpy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FIXTURE = str(Path(__file__).parent / "data" / "mnist_small.npz")


def example(name: str):
    """The example's main(argv), loaded without running it."""
    return runpy.run_path(str(EXAMPLES / name))["main"]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("EARTHMOVER_MNIST", FIXTURE)  # `mnist` reads the fixture, never downloads
    monkeypatch.setenv("EARTHMOVER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EARTHMOVER_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def test_every_example_says_how_to_run_it():
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == ["custom_loop.py", "score_folder.py", "train_mnist.py"]
    for name in scripts:
        doc = runpy.run_path(str(EXAMPLES / name))["__doc__"]
        assert f"python examples/{name}" in doc, name


def test_train_mnist(tmp_path):
    summary = example("train_mnist.py")(
        ["--steps", "2", "--width", "4", "--eval-n", "32", "--out", str(tmp_path / "run")]
    )
    assert summary.step == 2 and summary.values["metrics/fid"] > 0  # digit-FID by default on MNIST
    samples = tmp_path / "run" / "samples"
    assert (samples / "final.png").is_file() and (samples / "training.gif").is_file()


def test_score_folder(tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    with np.load(FIXTURE) as data:
        for i, image in enumerate(data["x_train"][:16]):
            Image.fromarray(image).save(folder / f"{i}.png")
    results = example("score_folder.py")([str(folder), "mnist:test", "--features", "digits"])
    assert [r.name for r in results] == ["fid", "kid"]
    assert results[0].n_samples == 16 and results[0].reference == "mnist:test"


def test_custom_loop():
    distance = example("custom_loop.py")(["--steps", "3", "--batch-size", "16", "--width", "8"])
    assert 0 < distance < 10
