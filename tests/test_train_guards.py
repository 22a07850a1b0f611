"""Guards (issue 5): a non-finite loss or gradient stops the run with a message naming the step,
the phase and the term, keeps the last good checkpoint, exits 2 with one line; the rollback
option continues from that checkpoint with lower learning rates; SIGINT/SIGTERM finish the step,
checkpoint and exit 3 (issue 13: distinct from a finished run), and the run resumes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from earthmover import cli
from earthmover.losses import penalties
from earthmover.train import state as ckpt
from earthmover.train.config import Config
from earthmover.train.loop import NonFiniteError, Trainer
from helpers import TINY_FLAGS, tiny_config

# the penalty on every critic step, n_critic 5 (the quickstart's own penalty is lazy): the call counts below
TINY = [*TINY_FLAGS, "--quiet", "--sample-every", "1000", "--n-critic", "5", "--penalty.every", "1"]


def tiny(**values) -> Config:
    return tiny_config("wgan-gp", **{"run.checkpoint_every": 2, **values})


def poison_gradient_penalty(monkeypatch, first_bad_call: int, times: int = 1):
    """The gradient penalty returns NaN on calls first_bad_call .. first_bad_call + times - 1 (1-based).
    WGAN-GP calls it n_critic = 5 times a step, so call 11 is the first critic step of step 3."""
    calls = {"n": 0}
    real = penalties.gradient_penalty

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        value = real(*args, **kwargs)
        if first_bad_call <= calls["n"] < first_bad_call + times:
            return value * float("nan")
        return value

    monkeypatch.setattr(penalties, "gradient_penalty", poisoned)
    return calls


def steps_logged(run_dir) -> list[int]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines if "loss/critic" in json.loads(line)]


def test_injected_nan_stops_with_step_phase_and_term(tmp_path, monkeypatch, capsys):
    poison_gradient_penalty(monkeypatch, first_bad_call=11)
    out = tmp_path / "run"
    status = cli.main(["train", "--out", str(out), "--steps", "6", "--checkpoint-every", "2", *TINY])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "non-finite loss term 'gradient_penalty' at step 3 in the critic phase" in err
    assert "last good checkpoint" in err and "step_0000002.pt" in err
    # the last good checkpoint stays, loads, and nothing of the bad step was written
    path, state = ckpt.latest_loadable_checkpoint(out)
    assert path.name == "step_0000002.pt" and state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["critic"].values())
    assert steps_logged(out) == [1, 2]
    # and the run resumes from it once the cause is gone
    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(out), *TINY]) == 0
    assert ckpt.latest_loadable_checkpoint(out)[1]["step"] == 6
    assert steps_logged(out) == [1, 2, 3, 4, 5, 6]


def test_nan_in_the_generator_phase_is_named(tmp_path, monkeypatch):
    import earthmover.train.build as build  # the run's objective is built once, with its plan

    make = build.make_objective

    class Poisoned:
        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def generator_loss(self, *args, **kwargs):
            self.calls += 1
            terms = self.inner.generator_loss(*args, **kwargs)
            return {k: v * float("inf") for k, v in terms.items()} if self.calls == 2 else terms

    monkeypatch.setattr(build, "make_objective", lambda *a, **k: Poisoned(make(*a, **k)))
    trainer = Trainer(tiny(), tmp_path / "run", quiet=True)
    with pytest.raises(NonFiniteError) as info:
        trainer.fit()
    assert (info.value.step, info.value.phase, info.value.term) == (2, "generator", "loss term 'generator'")
    assert "at step 2 in the generator phase" in str(info.value)
    assert trainer.step == 1 and ckpt.latest_loadable_checkpoint(tmp_path / "run")[1]["step"] == 0


def test_a_huge_learning_rate_exits_2_with_one_line(tmp_path):
    """The real process: status 2, one line on stderr, no traceback."""
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "earthmover",
            "train",
            "--out",
            str(out),
            "--steps",
            "5",
            "--lr-d",
            "1e30",
            "--lr-g",
            "1e30",
            *TINY,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "non-finite" in result.stderr and "at step 1 in the critic phase" in result.stderr
    assert ckpt.latest_loadable_checkpoint(out)[1]["step"] == 0


def test_rollback_continues_with_a_lower_learning_rate(tmp_path, monkeypatch, capsys):
    poison_gradient_penalty(monkeypatch, first_bad_call=11)
    trainer = Trainer(tiny(**{"run.on_nan": "rollback"}), tmp_path / "run", quiet=True)
    summary = trainer.fit()
    assert summary.step == 6 and not summary.interrupted
    assert "rolled back to step_0000002.pt; learning rates now x0.5" in capsys.readouterr().out
    assert trainer.lr_scale == 0.5
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(0.5e-4, rel=1e-12)
    records = {
        json.loads(line)["step"]: json.loads(line)
        for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
        if "lr/critic" in line
    }
    assert sorted(records) == [1, 2, 3, 4, 5, 6]  # the bad step is not logged twice
    assert records[2]["lr/critic"] == pytest.approx(1e-4) and records[3]["lr/critic"] == pytest.approx(0.5e-4)
    assert all(isinstance(r["loss/gradient_penalty"], float) for r in records.values())
    # the lowered rate is part of the checkpoint, so a resumed run keeps it
    assert ckpt.latest_loadable_checkpoint(tmp_path / "run")[1]["lr_scale"] == 0.5


def test_rollback_gives_up_when_the_fault_persists(tmp_path, monkeypatch):
    poison_gradient_penalty(monkeypatch, first_bad_call=11, times=10**6)
    trainer = Trainer(tiny(**{"run.on_nan": "rollback"}), tmp_path / "run", quiet=True)
    with pytest.raises(NonFiniteError, match="at step 3 in the critic phase"):
        trainer.fit()
    assert trainer.lr_scale == pytest.approx(0.5**3)


def test_sigint_finishes_the_step_and_checkpoints(tmp_path):
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    trainer = Trainer(tiny(**{"run.checkpoint_every": 100}), tmp_path / "run", quiet=True)
    step = trainer.train_step

    def interrupted_in_step_3():
        values = step()
        if trainer.step == 3:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C while the step runs
        return values

    trainer.train_step = interrupted_in_step_3
    summary = trainer.fit()
    assert summary.interrupted and summary.step == 3
    path, state = ckpt.latest_loadable_checkpoint(tmp_path / "run")
    assert path.name == "step_0000003.pt" and state["step"] == 3
    # the handlers the run found are restored (not assumed to be Python's defaults: a process
    # that ignores SIGINT, as mutmut's workers do, must get SIG_IGN back)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def test_sigterm_to_a_running_process_checkpoints_exits_3_and_resumes(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "earthmover",
            "train",
            "--out",
            str(out),
            "--steps",
            "100000",
            "--checkpoint-every",
            "100000",
            *TINY,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (
            (out / "metrics.jsonl").exists() and len((out / "metrics.jsonl").read_text().splitlines()) >= 2
        ):
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, stderr  # stopped early with a checkpoint: not 0 (finished), not 2 (user error)
    assert "Traceback" not in stderr
    assert f"Continue with: earthmover train --resume {out}" in stdout
    path, state = ckpt.latest_loadable_checkpoint(out)
    k = state["step"]
    assert k >= 2 and path.name == f"step_{k:07d}.pt"
    assert steps_logged(out) == list(range(1, k + 1))  # the step in progress was finished, not cut
    assert json.loads((out / "summary.json").read_text())["interrupted"] is True
    assert cli.main(["train", "--resume", str(out), "--steps", str(k + 2), *TINY]) == 0
    assert ckpt.latest_loadable_checkpoint(out)[1]["step"] == k + 2


def inf_gradient_once(parameter):
    calls = {"n": 0}

    def hook(grad):
        calls["n"] += 1
        if calls["n"] == 1:
            grad = grad.clone()
            grad.view(-1)[0] = float("inf")
        return grad

    return parameter.register_hook(hook)


def test_an_inf_gradient_without_a_grad_scaler_stops_naming_the_gradient():
    trainer = Trainer(tiny(), quiet=True)
    inf_gradient_once(next(trainer.critic.parameters()))
    with pytest.raises(NonFiniteError, match="non-finite gradient of the critic at step 1 in the critic phase"):
        trainer.critic_step()


def test_with_a_grad_scaler_an_overflow_skips_the_step_instead_of_stopping():
    """fp16 runs (CUDA) use a GradScaler whose job is to skip a step whose gradients overflowed and
    lower its scale; the guard must leave that to it. The scaler runs on CPU too, so check it here."""
    trainer = Trainer(tiny(), quiet=True)
    trainer.scaler_d = torch.amp.GradScaler("cpu", enabled=True, init_scale=2.0**10)
    inf_gradient_once(next(trainer.critic.parameters()))
    before = {k: v.clone() for k, v in trainer.critic.state_dict().items()}
    values = trainer.critic_step()  # no NonFiniteError
    assert all(torch.isfinite(v) for k, v in values.items() if k.startswith("loss/"))
    assert all(torch.equal(before[k], v) for k, v in trainer.critic.state_dict().items())  # step skipped
    assert trainer.scaler_d.get_scale() == 2.0**9
    trainer.critic_step()
    assert any(not torch.equal(before[k], v) for k, v in trainer.critic.state_dict().items())  # and the next one steps


def test_a_second_ctrl_c_stops_at_once(tmp_path):
    handler = signal.getsignal(signal.SIGINT)
    trainer = Trainer(tiny(**{"run.checkpoint_every": 100}), tmp_path / "run", quiet=True)
    step = trainer.train_step

    def pressed_twice():
        values = step()
        if trainer.step == 2:
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
        return values

    trainer.train_step = pressed_twice
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert ckpt.latest_loadable_checkpoint(tmp_path / "run")[1]["step"] == 0  # the last good one stays
    assert signal.getsignal(signal.SIGINT) is handler


def test_a_loss_that_overflows_from_finite_terms_is_named_the_loss():
    """float32 holds each term (3e38) but not their sum: the guard names the loss itself, not a term
    and not the gradient."""
    from earthmover.train.guards import Guard

    terms = {"critic": torch.tensor(3e38), "gradient_penalty": torch.tensor(3e38)}
    loss = sum(terms.values())
    assert torch.isinf(loss) and all(torch.isfinite(v) for v in terms.values())
    guard = Guard()
    guard.record("critic", loss, torch.tensor(1.0), terms)
    with pytest.raises(NonFiniteError) as info:
        guard.check(7)
    assert (info.value.step, info.value.phase, info.value.term) == (7, "critic", "loss")
    assert str(info.value).startswith("non-finite loss at step 7 in the critic phase; ")


def test_a_fault_on_another_process_stops_this_one_naming_it(monkeypatch):
    """Under torchrun every process reads the step's flags in one all-reduce (max): a process whose own
    phases are all finite still stops when another's are not, and says the fault was elsewhere."""
    import torch.distributed as dist

    from earthmover.train.distributed import DistributedContext
    from earthmover.train.guards import Guard

    other = torch.tensor([1.0, 0.0])  # the other process: a bad flag, no stop request
    monkeypatch.setattr(dist, "all_reduce", lambda t, op=None: t.copy_(torch.maximum(t, other)))
    monkeypatch.setattr(dist, "get_backend", lambda: "gloo")
    guard = Guard()
    guard.record("critic", torch.tensor(0.5), torch.tensor(1.0), {"critic": torch.tensor(0.5)})
    with pytest.raises(NonFiniteError) as info:
        guard.check(5, DistributedContext(rank=0, world_size=2), stop=False)
    assert (info.value.step, info.value.phase, info.value.term) == (5, "step", "value on another process")
    assert str(info.value).startswith("non-finite value on another process at step 5 in the step phase; ")


def test_under_torchrun_a_stop_request_travels_with_the_step_flags():
    """A signal reaches the processes of a torchrun job at slightly different times; each step's one
    all-reduce (max) of [bad, stop] makes them agree. Simulated here: the 'other process' is a fixed
    tensor the all-reduce takes the maximum with."""
    from earthmover.train.distributed import DistributedContext

    class TwoProcesses(DistributedContext):  # rank 0 of 2: its half of each batch; the all-reduce simulated
        def max(self, value):
            self.sent.append(value.clone())
            return torch.maximum(value, self.other)

    trainer = Trainer(tiny(), quiet=True)
    ctx = trainer.ctx = TwoProcesses(rank=0, world_size=2)
    ctx.sent = []
    ctx.other = torch.tensor([0.0, 0.0])  # nobody asked
    trainer.train_step()
    assert [t.tolist() for t in ctx.sent] == [[0.0, 0.0]] and not trainer._should_stop()
    trainer._stop.set()  # this process got the signal: it says so in the step's all-reduce
    trainer.train_step()
    assert ctx.sent[-1].tolist() == [0.0, 1.0] and trainer._should_stop()
    trainer._stop.clear()
    ctx.other = torch.tensor([0.0, 1.0])  # another process got it: this one stops too
    trainer.train_step()
    assert ctx.sent[-1].tolist() == [0.0, 0.0] and trainer._should_stop()
    assert len(ctx.sent) == 3  # one agreement per step


def test_a_checkpoint_is_refused_when_a_weight_is_not_finite(tmp_path):
    """Finite losses and gradients can still step a weight to inf: save() checks every network's
    weights and names the one that broke, and writes nothing."""
    trainer = Trainer(tiny(), tmp_path / "run", quiet=True)
    trainer.step = 4
    with torch.no_grad():
        list(trainer.generator.parameters())[-1].view(-1)[0] = float("inf")
    with pytest.raises(NonFiniteError) as info:
        trainer.save()
    assert (info.value.step, info.value.phase, info.value.term) == (
        4,
        "optimizer",
        "weights of the generator after its update",
    )
    assert str(info.value).startswith(
        "non-finite weights of the generator after its update at step 4 in the optimizer phase; "
    )
    with torch.no_grad():
        list(trainer.generator.parameters())[-1].view(-1)[0] = 0.0
        next(trainer.critic.parameters()).view(-1)[0] = float("nan")
    with pytest.raises(NonFiniteError, match="non-finite weights of the critic after its update at step 4"):
        trainer.save()
    assert not (tmp_path / "run" / "checkpoints").exists() or not list((tmp_path / "run" / "checkpoints").iterdir())
    with torch.no_grad():
        next(trainer.critic.parameters()).view(-1)[0] = 0.0
    assert trainer.save().name == "step_0000004.pt"  # finite again: written


def test_a_clean_step_reads_no_stop_and_a_step_without_phases_still_agrees_on_stopping(monkeypatch):
    import torch.distributed as dist

    from earthmover.train.distributed import DistributedContext
    from earthmover.train.guards import Guard

    guard = Guard()
    guard.record("critic", torch.tensor(0.5), torch.tensor(1.0), {"critic": torch.tensor(0.5)})
    assert guard.check(1) is False and guard.phases == []  # read once, then cleared
    assert Guard().check(2) is False and Guard().check(2, stop=True) is True
    # nothing recorded (a step that did no phase): the stop request still crosses processes
    other = {"stop": 1.0}  # the other process's request, max-reduced with ours
    monkeypatch.setattr(dist, "all_reduce", lambda t, op=None: t.clamp_(min=other["stop"]))
    monkeypatch.setattr(dist, "get_backend", lambda: "gloo")
    two = DistributedContext(rank=0, world_size=2)
    assert Guard().check(3, two, stop=False) is True  # the other process asked
    other["stop"] = 0.0
    assert Guard().check(3, two, stop=False) is False  # nobody asked
    assert Guard().check(3, two, stop=True) is True  # this one asked
