"""Checkpoints (issue 5): a process killed at any moment -- also while writing a checkpoint --
leaves a loadable checkpoint and a resumable run; a torn or stray file is skipped; a file crafted
to run code when unpickled is refused by weights_only loading and its code never runs."""

import builtins
import os
import random
import subprocess
import sys
import time

import pytest
import torch

from earthmover import cli
from earthmover.errors import EarthmoverError
from earthmover.train import state as ckpt
from helpers import TINY_FLAGS

TINY = [*TINY_FLAGS, "--quiet", "--sample-every", "100000"]


def newest_step(run_dir) -> int:
    found = ckpt.list_checkpoints(run_dir)
    return int(found[-1].stem.split("_")[1]) if found else -1


def test_sigkill_at_random_moments_leaves_a_resumable_run(tmp_path):
    """Checkpoint every step (so kills often land inside a write), kill -9 three times at random
    moments, resuming in between; every time the newest loadable checkpoint loads and moves on."""
    out = tmp_path / "run"
    start = [
        sys.executable,
        "-m",
        "earthmover",
        "train",
        "--out",
        str(out),
        "--steps",
        "100000",
        "--checkpoint-every",
        "1",
        "--keep-checkpoints",
        "2",
        *TINY,
    ]
    resume = [sys.executable, "-m", "earthmover", "train", "--resume", str(out), *TINY]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(5)
    reached = -1
    for attempt in range(3):
        process = subprocess.Popen(
            start if attempt == 0 else resume, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
        )
        try:
            deadline = time.monotonic() + 90
            while newest_step(out) <= reached and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.02)  # until this process has written a checkpoint of its own
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            time.sleep(rng.uniform(0.0, 0.6))
        finally:
            process.kill()  # SIGKILL
            process.wait()
        path, state = ckpt.latest_loadable_checkpoint(out)
        assert state["step"] > reached  # progress survives the kill
        assert path.name == f"step_{state['step']:07d}.pt"
        reached = state["step"]
    # and the run resumes from there to a total a few steps on
    assert cli.main(["train", "--resume", str(out), "--steps", str(reached + 2), *TINY]) == 0
    path, state = ckpt.latest_loadable_checkpoint(out)
    assert state["step"] == reached + 2
    assert not list((out / "checkpoints").glob(".*.tmp-*"))  # temp files of killed writers are swept


@pytest.fixture
def finished_run(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", "--out", str(out), "--steps", "2", "--checkpoint-every", "1", *TINY]) == 0
    assert [p.name for p in ckpt.list_checkpoints(out)] == ["step_0000000.pt", "step_0000001.pt", "step_0000002.pt"]
    return out


def test_a_torn_write_falls_back_to_the_previous_checkpoint(finished_run, capsys):
    out = finished_run
    newest = ckpt.checkpoint_path(out, 2)
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # a write cut in the middle
    stray = out / "checkpoints" / ".step_0000003.pt.tmp-999999"
    stray.write_bytes(data[:100])  # a temporary file a killed writer left
    with pytest.raises(EarthmoverError, match="unreadable.*truncated or corrupt"):
        ckpt.load_checkpoint(newest)
    path, state = ckpt.latest_loadable_checkpoint(out)
    assert path.name == "step_0000001.pt" and state["step"] == 1
    assert [p.name for p in ckpt.list_checkpoints(out)][-1] == "step_0000002.pt"  # temp files are never candidates

    assert cli.main(["train", "--resume", str(out), "--steps", "3", *TINY]) == 0
    captured = capsys.readouterr()
    assert "from step_0000001.pt" in captured.out and "step_0000002.pt" in captured.err  # says what it skipped
    assert ckpt.load_checkpoint(newest)["step"] == 2  # rewritten whole
    assert ckpt.latest_loadable_checkpoint(out)[1]["step"] == 3
    assert not stray.exists()


def test_empty_and_all_corrupt_checkpoints_are_clear_errors(finished_run, capsys):
    for path in ckpt.list_checkpoints(finished_run):
        path.write_bytes(b"")
    with pytest.raises(EarthmoverError, match="no checkpoint of .* is loadable"):
        ckpt.latest_loadable_checkpoint(finished_run)
    assert cli.main(["train", "--resume", str(finished_run), *TINY]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "is loadable" in err


class RunsCode:
    """Unpickling this calls `function(argument)`: the classic malicious pickle."""

    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return (self.function, (self.argument,))


@pytest.mark.parametrize("payload", ["os.system", "builtins.exec"])
def test_a_crafted_checkpoint_is_refused_and_its_code_never_runs(finished_run, tmp_path, capsys, payload):
    marker = tmp_path / "pwned"
    if payload == "os.system":
        evil = RunsCode(os.system, f"touch {marker}")
    else:
        evil = RunsCode(builtins.exec, f"open({str(marker)!r}, 'w').write('ran')")
    good = ckpt.load_checkpoint(ckpt.checkpoint_path(finished_run, 2))
    crafted = ckpt.checkpoint_path(finished_run, 3)
    torch.save({**good, "step": 3, "payload": evil}, crafted)  # looks like the next checkpoint

    with pytest.raises(EarthmoverError, match="was refused") as info:
        ckpt.load_checkpoint(crafted)
    assert "only load checkpoints earthmover wrote" in str(info.value)
    assert not marker.exists()

    # every path that reads checkpoints refuses it: sample with an explicit file...
    assert (
        cli.main(
            [
                "sample",
                "--run",
                str(finished_run),
                "--checkpoint",
                str(crafted),
                "--n",
                "4",
                "--out",
                str(tmp_path / "s.png"),
            ]
        )
        == 2
    )
    assert "was refused" in capsys.readouterr().err
    # ...and resume, which skips it for the newest good checkpoint and says so
    assert cli.main(["train", "--resume", str(finished_run), "--steps", "3", *TINY]) == 0
    assert "was refused" in capsys.readouterr().err
    assert not marker.exists()
    # ...and with no good checkpoint left, a clear error
    for path in ckpt.list_checkpoints(finished_run):
        path.unlink()
    torch.save({**good, "payload": evil}, ckpt.checkpoint_path(finished_run, 9))
    assert cli.main(["train", "--resume", str(finished_run), *TINY]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "was refused" in err
    assert not marker.exists()


def test_checkpoint_writes_are_atomic_and_keep_the_last_k(tmp_path, monkeypatch):
    state = {"step": 1, "w": torch.arange(4.0)}
    for step in range(1, 6):
        ckpt.save_checkpoint({**state, "step": step}, ckpt.checkpoint_path(tmp_path, step), keep=3)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [f"step_000000{s}.pt" for s in (3, 4, 5)]

    # a write that dies after the temp file is opened leaves the old checkpoint untouched
    def dies(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint({**state, "step": 5, "w": torch.zeros(4)}, ckpt.checkpoint_path(tmp_path, 5), keep=3)
    assert torch.equal(ckpt.load_checkpoint(ckpt.checkpoint_path(tmp_path, 5))["w"], torch.arange(4.0))
