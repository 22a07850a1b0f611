"""`earthmover train` end to end at a small step count: every promised file, and the summary line."""

import json
import re

from earthmover.cli import main


def test_main_job_writes_every_promised_file(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--steps",
            "6",
            "--out",
            str(out),
            "--quiet",
            "--width",
            "32",
            "--log-every",
            "2",
            "--sample-every",
            "3",
            "--checkpoint-every",
            "3",
            "--run.measure-n",
            "200",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert re.search(r"modes covered \d+/25, high quality \d+\.\d%, EMD to data \d+\.\d+", text), text
    assert (out / "config.toml").read_text().startswith('preset = "quickstart"')
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss/critic" in r] == [2, 4, 6]
    assert {
        "loss/critic",
        "loss/gradient_penalty",
        "loss/generator",
        "wasserstein_estimate",
        "grad_norm/critic",
        "grad_norm/generator",
        "lr/critic",
        "lr/generator",
    } <= set(records[0])
    assert sorted(p.name for p in (out / "samples").iterdir()) == [
        "final.png",
        "step_0000003.png",
        "step_0000006.png",
        "training.gif",
    ]
    assert "measured and drawn: the EMA generator (decay 0.99)" in text  # the quickstart preset keeps an EMA
    assert (out / "plots" / "losses.png").stat().st_size > 1000
    assert (out / "checkpoints" / "step_0000006.pt").is_file()
    assert list((out / "tensorboard").iterdir())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 6 and summary["num_modes"] == 25 and summary["num_samples"] == 200


def test_default_run_is_wgan_gp_on_the_25_gaussian_grid():
    """`earthmover train` with no arguments: the quickstart preset, i.e. the WGAN-GP objective and
    two-sided gradient penalty on the 25-gaussian grid, with several critic steps per generator step
    and the penalty applied (lazily) at least once in each generator step's critic steps."""
    import argparse

    from earthmover.train.command import build_config
    from earthmover.train.config import Config

    config = build_config(argparse.Namespace(preset=None, config=None))
    assert config.to_dict() == Config.from_preset("quickstart").to_dict()
    assert (config.preset, config.data.name, config.objective.name) == ("quickstart", "25gaussians", "wasserstein")
    assert config.penalty.gp > 0 and not config.penalty.gp_one_sided
    assert config.optim.n_critic > 1 and config.optim.n_critic % config.penalty.every == 0
    assert config.constraint.clip == 0 and not config.constraint.spectral_norm


def test_sample_and_report_commands(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--steps", "2", "--out", str(out), "--quiet", "--width", "16", "--run.measure-n", "50"]) == 0
    assert (
        main(
            [
                "sample",
                "--run",
                str(out),
                "--n",
                "30",
                "--npz",
                str(tmp_path / "s.npz"),
                "--out",
                str(tmp_path / "s.png"),
            ]
        )
        == 0
    )
    import numpy as np

    assert np.load(tmp_path / "s.npz")["samples"].shape == (30, 2)
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert main(["report", str(out)]) == 0
