"""Exact resume (issue 5): a run stopped at step k and resumed is, on CPU, bit-identical to the
run that never stopped -- the same logged losses and the same weights, optimizer state, EMA,
spectral-norm vectors, RNG states and data position."""

import json
import signal
from pathlib import Path

import pytest
import torch

from earthmover import cli
from earthmover.train import state as ckpt
from earthmover.train.config import Config, load_toml
from earthmover.train.loop import Trainer
from helpers import tiny_config

MNIST_FIXTURE = str(Path(__file__).parent / "data" / "mnist_small.npz")


def tiny(preset="wgan-gp", **values) -> Config:
    return tiny_config(preset, **{"run.checkpoint_every": 3, **values})


@pytest.fixture
def no_pictures(monkeypatch):
    """Plots are side work that never touches the training state (checked in the observability
    tests); leave them out here to keep these tests fast."""
    monkeypatch.setattr(Trainer, "snapshot", lambda self: None)
    monkeypatch.setattr("earthmover.plotting.training_curves", lambda *a, **k: None)


def flatten(value, prefix=""):
    """Every leaf of a nested state dict, by path."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}{k}/"))
        return out
    if isinstance(value, (list, tuple)):
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}{i}/"))
        return out
    return {prefix: value}


def assert_same_state(a: dict, b: dict):
    fa, fb = flatten(a), flatten(b)
    assert fa.keys() == fb.keys()
    differ = []
    for key, x in fa.items():
        y = fb[key]
        if isinstance(x, torch.Tensor):
            if not (x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y)):
                differ.append(key)
        elif x != y:
            differ.append(key)
    assert not differ, f"state differs at {differ[:10]}"


def metrics(run_dir) -> dict[int, dict]:
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        record.pop("steps_per_second", None)
        out.setdefault(record["step"], {}).update(record)  # the last step also has a line of final measures
    return out


def stop_after(trainer: Trainer, k: int) -> None:
    """Interrupt trainer.fit() after step k the way a user does: SIGTERM (finish the step, checkpoint, stop)."""
    step = trainer.train_step

    def wrapped():
        values = step()
        if trainer.step == k:
            signal.raise_signal(signal.SIGTERM)
        return values

    trainer.train_step = wrapped


def run_stopped_and_resumed(config_factory, run_dir, k):
    trainer = Trainer(config_factory(), run_dir, quiet=True)
    stop_after(trainer, k)
    summary = trainer.fit()
    assert summary.interrupted and summary.step == k
    path, state = ckpt.latest_loadable_checkpoint(run_dir)
    assert path.name == f"step_{k:07d}.pt" and state["step"] == k
    resumed = Trainer(config_factory(), run_dir, quiet=True)  # a fresh process would do exactly this
    resumed.load_state_dict(state)
    assert resumed.step == k
    resumed.fit()
    return resumed


CASES = {
    "wgan-gp (penalty RNG)": ("wgan-gp", {}),
    "ct-gan (dropout RNG)": ("ct-gan", {}),
    "sngan (spectral-norm u, v)": ("sngan", {}),
    "wgan (clipping, rmsprop)": ("wgan", {}),
    "ema + linear lr decay": ("wgan-gp", {"model.ema": 0.9, "optim.lr_decay": "linear"}),
    "lazy penalty + one critic step": ("r1", {"penalty.every": 2, "model.critic_norm": "layer"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_resume_is_bit_identical(case, tmp_path, no_pictures):
    preset, values = CASES[case]

    def factory():
        return tiny(preset, **values)

    full = Trainer(factory(), tmp_path / "full", quiet=True)
    full.fit()
    resumed = run_stopped_and_resumed(
        factory, tmp_path / "resumed", k=2
    )  # between checkpoints: 2 is not a multiple of 3

    assert_same_state(full.state_dict(), resumed.state_dict())
    a, b = metrics(tmp_path / "full"), metrics(tmp_path / "resumed")
    assert sorted(a) == sorted(b) == list(range(1, 7))
    assert a == b  # every logged loss term, estimate, grad norm and learning rate, exactly
    if values.get("optim.lr_decay") == "linear":
        assert b[6]["lr/critic"] == pytest.approx(0.0, abs=1e-12) and b[3]["lr/critic"] == pytest.approx(
            0.5e-4, rel=1e-9
        )
    if values.get("model.ema"):
        assert not torch.equal(flatten(full.state_dict()["ema"])["module.out.weight/"], full.generator.out.weight)


def test_image_run_resumes_with_the_same_data_order(tmp_path, monkeypatch, no_pictures):
    """dcgan on the MNIST fixture (512 images, batch 32 -> 16 batches a pass): five critic steps a
    step, so the stop at step 4 falls in the second pass; the data order and position must carry over."""
    monkeypatch.setenv("EARTHMOVER_MNIST", MNIST_FIXTURE)

    def factory():
        return tiny(
            "wgan-gp",
            **{
                "data.name": "mnist",
                "model.arch": "dcgan",
                "model.width": 4,
                "model.latent_dim": 8,
                "model.ema": 0.5,
                "run.steps": 5,
                "run.eval_metrics": "none",
            },
        )  # no digit-FID: speed

    full = Trainer(factory(), tmp_path / "full", quiet=True)
    full.fit()
    assert full.stream.epoch == 1  # 25 batches of 32 from 512 images: one full pass and a bit
    resumed = run_stopped_and_resumed(factory, tmp_path / "resumed", k=4)
    assert resumed.stream.epoch == full.stream.epoch and resumed.stream.position == full.stream.position
    assert_same_state(full.state_dict(), resumed.state_dict())
    assert metrics(tmp_path / "full") == metrics(tmp_path / "resumed")


def test_cli_resume_takes_steps_as_the_total(tmp_path, capsys, no_pictures):
    out = tmp_path / "run"
    common = ["--quiet", "--run.threads", "1", "--run.measure-n", "64", "--log-every", "1"]
    assert (
        cli.main(
            [
                "train",
                "--steps",
                "3",
                "--out",
                str(out),
                "--width",
                "16",
                "--batch-size",
                "32",
                "--data",
                "8gaussians",
                "--checkpoint-every",
                "2",
                *common,
            ]
        )
        == 0
    )
    assert ckpt.latest_loadable_checkpoint(out)[1]["step"] == 3
    assert cli.main(["train", "--resume", str(out), "--steps", "5", *common]) == 0
    assert "resuming" in capsys.readouterr().out
    path, state = ckpt.latest_loadable_checkpoint(out)
    assert state["step"] == 5 and path.name == "step_0000005.pt"
    assert load_toml(out / "config.toml")["run"]["steps"] == 5
    assert sorted(metrics(out)) == [1, 2, 3, 4, 5]
    # resuming a finished run to the same total does no steps and changes nothing
    before = flatten(state)
    assert cli.main(["train", "--resume", str(out), *common]) == 0
    after = flatten(ckpt.latest_loadable_checkpoint(out)[1])
    assert all(torch.equal(before[k], after[k]) for k in before if isinstance(before[k], torch.Tensor))


def test_resume_to_a_total_below_the_checkpoint_is_an_error(tmp_path, capsys, no_pictures):
    out = tmp_path / "run"
    common = ["--quiet", "--run.threads", "1", "--run.measure-n", "64"]
    assert (
        cli.main(
            [
                "train",
                "--steps",
                "3",
                "--out",
                str(out),
                "--width",
                "16",
                "--batch-size",
                "32",
                "--data",
                "8gaussians",
                *common,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out), "--steps", "2", *common]) == 2
    err = capsys.readouterr().err
    assert "run.steps = 2 is below the step of step_0000003.pt (3)" in err and "--steps 4 or more" in err
