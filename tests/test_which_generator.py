"""Every command that scores or samples a generator says which one (issue 9): "EMA generator
(decay D)" or "raw generator", in train's summary and summary.json, `eval`, `sample` and `fid RUN`."""

import json
from pathlib import Path

import pytest
import torch

from earthmover import cli
from earthmover.train.ema import describe_generator

FIXTURE = str(Path(__file__).parent / "data" / "mnist_small.npz")
EMA = "EMA generator (decay 0.5)"
RAW = "raw generator"


def test_the_two_names():
    assert describe_generator(0.999) == "EMA generator (decay 0.999)"
    assert describe_generator(0.999, used_ema=False) == RAW
    assert describe_generator(0.0) == RAW and describe_generator(None) == RAW


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """Two steps of dcgan (width 4) on the MNIST fixture, keeping an EMA of decay 0.5."""
    out = tmp_path_factory.mktemp("which") / "run"
    threads = torch.get_num_threads()
    try:
        assert (
            cli.main(
                [
                    "train",
                    "--data",
                    FIXTURE,
                    "--arch",
                    "dcgan",
                    "--width",
                    "4",
                    "--model.latent-dim",
                    "8",
                    "--batch-size",
                    "32",
                    "--steps",
                    "2",
                    "--ema",
                    "0.5",
                    "--run.eval-metrics",
                    "none",
                    "--run.threads",
                    "1",
                    "--device",
                    "cpu",
                    "--out",
                    str(out),
                    "--quiet",
                ]
            )
            == 0
        )
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EARTHMOVER_CACHE", str(tmp_path / "cache"))


def last_lines(capsys):
    return capsys.readouterr().out.strip().splitlines()


@pytest.mark.parametrize("ema, which", [("0.5", EMA), ("0", RAW)])
def test_train_states_the_generator_in_its_summary_and_summary_json(tmp_path, capsys, ema, which):
    out = tmp_path / "run"
    assert (
        cli.main(
            [
                "train",
                "--data",
                "8gaussians",
                "--width",
                "16",
                "--batch-size",
                "32",
                "--steps",
                "1",
                "--run.measure-n",
                "64",
                "--run.threads",
                "1",
                "--ema",
                ema,
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        last_lines(capsys)[-1]
        == f"measured and drawn: the {which}; pictures in {out / 'samples'}/ (final.png, training.gif)"
    )
    assert json.loads((out / "summary.json").read_text())["generator"] == which


@pytest.mark.parametrize("flags, which", [([], EMA), (["--no-ema"], RAW)])
def test_eval_states_the_generator(image_run, capsys, tmp_path, flags, which):
    report = tmp_path / "eval.json"
    assert (
        cli.main(
            [
                "eval",
                "--run",
                str(image_run),
                "--features",
                "digits",
                "--metrics",
                "fid",
                "--n",
                "16",
                "--reference",
                f"{FIXTURE}:test",
                "--json",
                str(report),
                *flags,
            ]
        )
        == 0
    )
    assert last_lines(capsys)[0] == f"scored: the {which} of {image_run}, step 2"
    assert json.loads(report.read_text())["generator"] == which


@pytest.mark.parametrize("flags, which", [([], EMA), (["--no-ema"], RAW)])
def test_sample_states_the_generator(image_run, capsys, tmp_path, flags, which):
    png = tmp_path / "s.png"
    assert cli.main(["sample", "--run", str(image_run), "--n", "4", "--out", str(png), *flags]) == 0
    assert last_lines(capsys) == [f"wrote {png} from the {which}"]


@pytest.mark.parametrize("flags, which", [([], EMA), (["--no-ema"], RAW)])
def test_fid_of_a_run_samples_its_generator_and_says_which(image_run, capsys, tmp_path, flags, which):
    assert cli.main(["fid", str(image_run), f"{FIXTURE}:test", "--features", "digits", "--n", "16", *flags]) == 0
    lines = last_lines(capsys)
    assert lines[0] == f"samples: 16 from the {which} of {image_run}, step 2"
    assert lines[2].split()[:1] == ["fid"]


def test_the_ema_and_raw_samples_differ(image_run):
    """The statement is about real weights: the two generators of the run draw different samples."""
    from earthmover.train.sampler import load_sampler

    ema, raw = load_sampler(image_run), load_sampler(image_run, use_ema=False)
    assert (ema.generator_label, raw.generator_label) == (EMA, RAW)
    assert not torch.equal(ema.sample(4, seed=0), raw.sample(4, seed=0))


def test_fid_refuses_a_run_as_the_reference_in_one_line(image_run, capsys):
    assert cli.main(["fid", f"{FIXTURE}:test", str(image_run), "--features", "digits"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "set B" in err and "is a training run" in err


def test_fid_reads_what_sample_npz_writes_and_an_npz_of_one_array(image_run, capsys, tmp_path):
    """Issue 9: an .npz with a single image array (any key, uint8 or float) is simply read."""
    import numpy as np

    dump = tmp_path / "s.npz"
    assert (
        cli.main(["sample", "--run", str(image_run), "--n", "8", "--out", str(tmp_path / "s.png"), "--npz", str(dump)])
        == 0
    )
    with np.load(dump) as d:
        assert list(d.files) == ["samples"] and d["samples"].dtype == np.float32
    with np.load(FIXTURE) as raw:
        np.savez(tmp_path / "one.npz", raw["x_test"][:8])  # saved as arr_0
    for path in (dump, tmp_path / "one.npz"):
        capsys.readouterr()
        assert cli.main(["fid", str(path), f"{FIXTURE}:test", "--features", "digits"]) == 0, capsys.readouterr().err
        assert last_lines(capsys)[0] == f"samples: {path}"
