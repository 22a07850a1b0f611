"""Issue 23: no long silent stretches. Feature extraction (`fid`, `eval`, `stats`, a run's final evaluation) draws
a progress bar on stderr when stderr is a terminal and not under --quiet, as earthmover's other secondary bars
(sampling, PNG writing); a toy run says it is computing the exact EMD before the seconds that takes, unless
--quiet, as the training bar. stdout, what scripts read, is the same either way."""

import io
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from earthmover import cli
from earthmover.metrics import features as features_module
from earthmover.metrics.features import extract, get_extractor
from helpers import TINY_FLAGS, tiny_config

DATA = Path(__file__).parent / "data" / "mnist_small.npz"


class Terminal(io.StringIO):
    """A stderr that says it is a terminal (tqdm draws on a terminal only when ``disable=None``)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def bars(monkeypatch):
    """Every extraction bar made: [label, images counted, total, disabled]."""
    made = []

    class Recording(features_module.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.record = [kwargs.get("desc"), 0, kwargs.get("total"), bool(self.disable)]
            made.append(self.record)

        def update(self, n=1):
            self.record[1] += n
            return super().update(n)

    monkeypatch.setattr(features_module, "tqdm", Recording)
    return made


def test_extract_counts_every_image_on_a_terminal_bar_and_draws_nothing_elsewhere(monkeypatch, bars):
    digits = get_extractor("digits")
    images = torch.zeros(250, 1, 28, 28)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    shown = extract(digits, images, batch_size=100, progress="digits features of the test")
    assert bars == [["digits features of the test", 250, 250, False]]  # 100 + 100 + 50 images counted
    assert "digits features of the test" in terminal.getvalue() and "/250" in terminal.getvalue()
    plain = io.StringIO()  # a log file, a pipe: no bar
    monkeypatch.setattr(sys, "stderr", plain)
    hidden = extract(digits, images, batch_size=100, progress="digits features of the test")
    assert plain.getvalue() == "" and bars[-1][3] is True
    monkeypatch.setattr(sys, "stderr", terminal)
    before = terminal.getvalue()
    extract(digits, images, batch_size=100)  # no label: no bar, even on a terminal
    assert terminal.getvalue() == before
    np.testing.assert_array_equal(shown.features, hidden.features)


def run_fid(monkeypatch, capsys, stderr, *extra) -> tuple[str, str]:
    monkeypatch.setattr(sys, "stderr", stderr)
    args = ["fid", f"{DATA}:test", f"{DATA}:train", "--n", "120", "--features", "digits", *extra]
    assert cli.main(args) == 0
    return capsys.readouterr().out, stderr.getvalue()


def test_fid_draws_bars_over_both_sets_on_a_terminal_and_prints_the_same_table(metrics_env, monkeypatch, capsys, bars):
    loud_out, loud_err = run_fid(monkeypatch, capsys, Terminal())
    assert [(label, n) for label, n, _, _ in bars] == [
        ("digits features of 120 samples", 120),  # set A
        (f"digits features of {DATA}:train", 120),  # set B, the reference (not cached yet)
    ]
    assert "digits features of 120 samples" in loud_err
    quiet_out, quiet_err = run_fid(monkeypatch, capsys, Terminal(), "--quiet")
    assert quiet_err == ""
    assert quiet_out == loud_out and loud_out.startswith(f"samples: {DATA}:test\nmetric")
    piped_out, piped_err = run_fid(monkeypatch, capsys, io.StringIO())
    assert piped_err == "" and piped_out == loud_out


def test_eval_draws_a_bar_over_the_generated_samples(metrics_env, monkeypatch, capsys, bars):
    from earthmover.train import sampler as sampler_module

    images = torch.zeros(200, 1, 28, 28)
    fake = types.SimpleNamespace(
        sample=lambda n, seed=0: images[:n],
        config=types.SimpleNamespace(data=types.SimpleNamespace(name="mnist")),
        generator_label="EMA generator",
        step=3,
    )
    monkeypatch.setattr(sampler_module, "load_sampler", lambda *a, **k: fake)
    monkeypatch.setattr(sys, "stderr", Terminal())
    args = [
        "eval",
        "--run",
        str(metrics_env),
        "--metrics",
        "fid",
        "--n",
        "200",
        "--batch-size",
        "50",
        "--features",
        "digits",
    ]
    assert cli.main(args) == 0
    assert ["digits features of 200 samples", 200, 200, False] in bars


def test_a_toy_run_says_it_computes_the_exact_emd_unless_quiet(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("earthmover.plotting.training_curves", lambda *a, **k: None)
    assert cli.main(["train", "--out", str(tmp_path / "loud"), "--steps", "2", *TINY_FLAGS]) == 0
    loud = capsys.readouterr()
    assert "measuring: exact EMD between 64 generated and 64 data samples..." in loud.err
    assert cli.main(["train", "--out", str(tmp_path / "quiet"), "--steps", "2", "--quiet", *TINY_FLAGS]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == ""

    def mask(text: str) -> str:
        return re.sub(r" in \d+s", " in Ns", text.replace(str(tmp_path / "quiet"), str(tmp_path / "loud")))

    assert mask(loud.out).splitlines()[1:] == mask(quiet.out).splitlines()  # after the loud run's "training ..."


def test_an_image_run_says_what_it_scores_at_the_end_and_bars_it(tmp_path, capsys, monkeypatch, bars):
    monkeypatch.setenv("EARTHMOVER_CACHE", str(tmp_path / "cache"))
    from earthmover.train.loop import Trainer

    values = {"data.name": str(DATA), "model.arch": "dcgan", "model.width": 4, "model.latent_dim": 8}
    config = tiny_config("wgan-gp", **values, **{"run.steps": 1, "run.eval_n": 32})
    Trainer(config, None, quiet=True).fit()
    assert capsys.readouterr().err == ""  # quiet: no line
    assert [label for label, *_ in bars] == [None, None]  # and no bar asked for (reference, samples)
    Trainer(config, None, quiet=False).fit()
    assert "evaluating: fid on 32 generated samples (digits features)..." in capsys.readouterr().err
    assert ["digits features of 32 samples", 32, 32, True] in bars  # made, and hidden: stderr is not a terminal


def test_importing_earthmover_does_not_import_tqdm_auto():
    """tqdm.auto, imported in a Jupyter kernel without ipywidgets, prints "TqdmWarning: IProgress not found": the
    story notebook's first cell (and its page on the site) showed it once features.py imported tqdm.auto."""
    code = (
        "import sys, earthmover; from earthmover import Config, Trainer, metrics\n"
        "print(sorted(m for m in sys.modules if m.startswith('tqdm.a')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
