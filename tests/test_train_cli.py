"""Observability and devices (issue 5): TensorBoard holds the loss terms, the Wasserstein
estimate, penalty values, gradient norms, learning rates, metrics and sample grids; metrics.jsonl
holds the same scalars; `earthmover report` draws the curves; --quiet prints no progress bar;
--device names a missing device clearly."""

import json

import pytest
import torch

from earthmover import cli
from earthmover.train.loop import Trainer, eval_mode
from helpers import TINY_FLAGS

TINY = list(TINY_FLAGS)
SCALARS = {
    "loss/critic",
    "loss/gradient_penalty",
    "loss/generator",
    "wasserstein_estimate",
    "grad_norm/critic",
    "grad_norm/generator",
    "lr/critic",
    "lr/generator",
    "steps_per_second",
    "metrics/high_quality",
    "metrics/modes_covered",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("obs") / "run"
    threads = torch.get_num_threads()
    try:
        assert cli.main(["train", "--out", str(out), "--steps", "4", "--sample-every", "2", "--quiet", *TINY]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_tensorboard_holds_the_scalars_and_the_sample_grids(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert SCALARS <= set(tags["scalars"])
    assert "samples" in tags["images"]
    assert [e.step for e in events.Images("samples")] == [2, 4]  # mid-run and final grids
    image = events.Images("samples")[-1]
    assert image.width > 100 and image.height > 100
    # the same values as metrics.jsonl (TensorBoard stores float32)
    records = [r for r in read_jsonl(run / "metrics.jsonl") if "loss/critic" in r]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    for name in (
        "loss/critic",
        "loss/gradient_penalty",
        "loss/generator",
        "wasserstein_estimate",
        "grad_norm/critic",
        "grad_norm/generator",
        "lr/critic",
    ):
        logged = {e.step: e.value for e in events.Scalars(name)}
        assert sorted(logged) == [1, 2, 3, 4]
        for record in records:
            assert logged[record["step"]] == pytest.approx(record[name], rel=1e-6, abs=1e-9), name
    assert "final/emd" in tags["scalars"]


def test_metrics_jsonl_holds_the_same_scalar_names(run):
    records = read_jsonl(run / "metrics.jsonl")
    names = set().union(*records) - {"step"}
    assert SCALARS <= names
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    # one set of names, two writers (TensorBoard skips non-finite values, which metrics.jsonl writes
    # as strings, e.g. a reverse KL of inf when the generator misses a mode)
    finite = {k for r in records for k, v in r.items() if isinstance(v, (int, float)) and k != "step"}
    assert set(events.Tags()["scalars"]) == finite
    assert all(isinstance(v, (int, float)) or v in ("inf", "-inf", "nan") for r in records for v in r.values())


def test_report_draws_the_curves(run, capsys):
    plot = run / "plots" / "losses.png"
    plot.unlink()
    assert cli.main(["report", str(run)]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000
    assert str(plot) in capsys.readouterr().out


def test_report_of_a_directory_without_metrics_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err


def test_quiet_prints_no_progress_bar_and_the_default_does(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Trainer, "snapshot", lambda self: None)
    monkeypatch.setattr("earthmover.plotting.training_curves", lambda *a, **k: None)
    assert cli.main(["train", "--out", str(tmp_path / "q"), "--steps", "2", "--quiet", *TINY]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == ""
    assert quiet.out.count("\n") == 2 and "step 2" in quiet.out  # only the summary lines
    assert quiet.out.splitlines()[1] == "measured and drawn: the EMA generator (decay 0.99)"
    assert cli.main(["train", "--out", str(tmp_path / "loud"), "--steps", "2", *TINY]) == 0
    loud = capsys.readouterr()
    assert "2/2" in loud.err and "step/s" in loud.err and "W=" in loud.err  # tqdm: count, rate, ETA, estimate
    assert "training quickstart on 8gaussians for 2 steps (global batch 32, device cpu)" in loud.out


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_a_missing_device_is_a_clear_error(tmp_path, capsys, device):
    available = torch.cuda.is_available() if device == "cuda" else torch.backends.mps.is_available()
    if available:
        pytest.skip(f"{device} is present here")
    assert (
        cli.main(["train", "--out", str(tmp_path / "run"), "--steps", "1", "--quiet", *TINY[:-2], "--device", device])
        == 2
    )
    err = capsys.readouterr().err
    assert f"run.device = '{device}' but" in err and "use --device cpu or auto" in err
    assert len(err.strip().splitlines()) == 1


def test_auto_and_cpu_devices(tmp_path):
    from earthmover.train.config import Config

    for kind in ("auto", "cpu"):
        config = Config()
        config.set("run.device", kind)
        config.set("model.width", 8)
        trainer = Trainer(config, quiet=True)
        expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
        assert trainer.device.type == (expected if kind == "auto" else "cpu")


def copied(state):
    """A deep copy with every tensor cloned, so later in-place updates cannot reach it."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {k: copied(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(copied(v) for v in state)
    return state


def test_side_work_touches_no_training_state(tmp_path, monkeypatch):
    """Snapshots and measures between steps (in eval mode, from their own generators) leave the
    training RNGs, spectral-norm vectors and batch statistics alone."""
    from earthmover.train.config import Config

    config = Config(preset="sngan")
    for dotted, value in {
        "constraint.spectral_norm": True,
        "objective.name": "hinge",
        "model.width": 16,
        "model.dropout": 0.3,
        "data.batch_size": 32,
        "run.device": "cpu",
        "run.measure_n": 64,
        "data.name": "8gaussians",
    }.items():
        config.set(dotted, value)
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    trainer.train_step()
    before = copied(trainer.state_dict())  # state_dict() returns live references: copy, or it equals itself
    trainer.snapshot()
    trainer.measure()
    with eval_mode(trainer.critic):
        trainer.critic(torch.randn(8, 2, generator=torch.Generator().manual_seed(0)))
    after = trainer.state_dict()
    for key in ("critic", "generator"):
        for name, value in before[key].items():
            assert torch.equal(value, after[key][name]), name
    for name in ("torch", "latent", "penalty"):
        assert torch.equal(before["rng"][name], after["rng"][name]), name
    assert torch.equal(before["data"]["generator"], after["data"]["generator"])
