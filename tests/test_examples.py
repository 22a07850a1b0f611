"""The scripts in examples/ run, in a tiny configuration (a few steps, the shipped MNIST fixture,
never the network), so they cannot rot; each says in its docstring how to run it."""

import importlib
import runpy
from pathlib import Path

import numpy as np
import ot as pot
import pytest
import torch
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


def frechet_by_eigenvalues(a: np.ndarray, b: np.ndarray, eps: float = 0.0) -> float:
    """FID computed a second way: ||mu_a - mu_b||^2 + Tr S_a + Tr S_b - 2 sum_i sqrt(lambda_i(S_a' S_b')),
    the eigenvalues of a product of two covariances being real and non-negative (no sqrtm). S' = S + eps I;
    eps = 0, since metrics.fid takes the trace term exactly from the symmetric R S_b R (R = S_a^1/2), with no
    regularization even for a covariance of fewer samples than features."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    ca, cb = a - a.mean(0), b - b.mean(0)
    sa, sb = ca.T @ ca / (len(a) - 1), cb.T @ cb / (len(b) - 1)
    diff = a.mean(0) - b.mean(0)
    offset = eps * np.eye(len(sa))
    roots = np.sqrt(np.clip(np.linalg.eigvals((sa + offset) @ (sb + offset)).real, 0, None))
    return float(diff @ diff + np.trace(sa) + np.trace(sb) - 2 * roots.sum())


def test_train_mnist(tmp_path, monkeypatch):
    fid = importlib.import_module("earthmover.metrics.fid")  # the module (earthmover.metrics.fid is the function)
    features = []  # the two feature sets the final digit-FID compares (generated, then MNIST test)
    stats = fid.gaussian_stats
    monkeypatch.setattr(fid, "gaussian_stats", lambda f: features.append(np.asarray(f)) or stats(f))
    summary = example("train_mnist.py")(
        ["--steps", "2", "--width", "4", "--eval-n", "32", "--out", str(tmp_path / "run")]
    )
    assert summary.step == 2
    # digit-FID by default on MNIST: 32 generated samples against the fixture's 256 test digits, and the
    # logged value is the Frechet distance of those two feature sets (here about 827 = 792.7 for the means
    # + 35.2 for the test digits' spread - 0.7 for the cross term: the 2-step generator's spread is ~0.01)
    assert [len(f) for f in features] == [32, 256]
    expected = frechet_by_eigenvalues(*features)
    assert summary.values["metrics/fid"] == pytest.approx(expected, rel=1e-7)
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


def test_custom_loop_defaults_are_the_quickstart_presets():
    """Its docstring says so: the optimizer, the lazy penalty, the batch and the network shape."""
    from earthmover import Config

    preset = Config.from_preset("quickstart")
    script = runpy.run_path(str(EXAMPLES / "custom_loop.py"))
    args = script["arguments"]().parse_args([])
    assert args.lr == preset.get("optim.lr_g") == preset.get("optim.lr_d") and preset.get("optim.lr_decay") == "linear"
    assert (args.n_critic, args.gp, args.gp_every) == (
        preset.get("optim.n_critic"),
        preset.get("penalty.gp"),
        preset.get("penalty.every"),
    )
    assert (args.batch_size, args.width) == (preset.get("data.batch_size"), preset.get("model.width"))
    hidden = sum(isinstance(m, torch.nn.Linear) for m in script["mlp"](2, 1, 8)) - 1
    assert hidden == preset.get("model.depth")
    assert (preset.get("optim.beta1"), preset.get("optim.beta2")) == (0.5, 0.9)  # as the loop's Adam


def test_custom_loop():
    main = example("custom_loop.py")
    sets = []  # what the example measures: 1,000 of its generator's samples and 1,000 data points
    emd_samples = main.__globals__["emd_samples"]
    main.__globals__["emd_samples"] = lambda a, b, *args, **kw: sets.append((a, b)) or emd_samples(a, b, *args, **kw)
    distance = main(["--steps", "3", "--batch-size", "16", "--width", "8"])
    ((samples, data),) = sets
    samples, data = np.asarray(samples, np.float64), np.asarray(data, np.float64)
    assert samples.shape == data.shape == (1000, 2)
    # the exact earth mover's distance with the Euclidean (not squared) ground cost, by POT's network
    # simplex here where emd_samples takes the cheapest perfect matching (equal weights: the same value)
    uniform = np.full(1000, 1 / 1000)
    exact = pot.emd2(uniform, uniform, np.linalg.norm(samples[:, None] - data[None], axis=-1))
    assert distance == pytest.approx(exact, rel=1e-7)
    # and, by the triangle inequality through the origin, it lies within the samples' mean norm of the
    # data's (about 1.41, the eight Gaussians' circle): the 3-step generator has barely moved from 0
    spread, radius = np.linalg.norm(samples, axis=1).mean(), np.linalg.norm(data, axis=1).mean()
    assert radius - spread <= distance <= radius + spread and radius == pytest.approx(1.414, abs=0.01)


@pytest.mark.parametrize(
    ("script", "argv", "named"),
    [
        ("train_mnist.py", ["--data", "no_such_digits.npz"], "no_such_digits.npz"),
        ("score_folder.py", ["no_such_folder", "mnist:test"], "no_such_folder"),
    ],
)
def test_a_user_error_ends_in_one_line(script, argv, named, monkeypatch, capsys, tmp_path):
    """As the earthmover command does: `SCRIPT: error: ...` on one line of stderr, status 2, no traceback,
    and nothing written."""
    monkeypatch.setattr("sys.argv", [script, *argv])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.startswith(f"{script}: error: ") and named in err and err.count("\n") == 1, err
    assert not list(tmp_path.glob("runs/*"))
