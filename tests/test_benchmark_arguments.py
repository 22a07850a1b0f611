"""The benchmark scripts refuse bad arguments in one line, before they train or write anything."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_main(script: str, argv: list[str], monkeypatch, capsys) -> str:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = importlib.import_module(script)
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *argv])

    def trains(*args, **kwargs):
        raise AssertionError("the script started a run instead of refusing its arguments")

    for runner in ("one_run", "one_line"):  # a bad value that got through would train for minutes: fail at once
        if hasattr(module, runner):
            monkeypatch.setattr(module, runner, trains)
    with pytest.raises(SystemExit) as exc:
        module.main()
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1]


@pytest.mark.parametrize(
    "script, argv, says",
    [
        (
            "mnist",
            ["--only", "earthmover", "--minutes", "0.01", "--set", "optim.lr_g=abc"],
            "optim.lr_g must be a number, got 'abc'",
        ),
        (
            "mnist",
            ["--only", "earthmover", "--minutes", "0.01", "--set", "model.nope=1"],
            "unknown config field 'model.nope'",
        ),
        (
            "conditional",
            ["--models", "concat", "--minutes", "0.01", "--set", "optim.n_critic=0"],
            "optim.n_critic = 0 is invalid",
        ),
        (
            "conditional",
            ["--models", "concat", "--minutes", "0.01", "--parallel", "0"],
            "argument --parallel: 0 is invalid; pass an integer >= 1",
        ),
        ("growing", ["--images", "64", "--set", "optim.lr_d=fast"], "optim.lr_d must be a number, got 'fast'"),
        ("quickstart", ["--steps", "2", "--set", "penalty.every=0"], "penalty.every = 0 is invalid"),
        ("quickstart", ["--steps", "2", "--parallel", "0"], "argument --parallel: 0 is invalid; pass an integer >= 1"),
        ("quickstart", ["--steps", "0"], "argument --steps: 0 is invalid; pass an integer >= 1"),
        (
            "inception",
            ["--variants", "32,64:fast"],
            "argument --variants: '64:fast': expected BATCH, BATCH/PASS or BATCH:nchw",
        ),
        ("inception", ["--rounds", "0"], "argument --rounds: 0 is invalid; pass an integer >= 1"),
        ("doc_times", ["--folder-size", "600"], "argument --folder-size: 600 is more than the 512 digits of"),
        ("doc_times", ["--probe", "0"], "argument --probe: 0 is invalid; pass an integer >= 1"),
        ("doc_times", ["--full-below", "inf"], "argument --full-below: inf is invalid; pass a finite number > 0"),
        ("augment", ["--parallel", "0"], "argument --parallel: 0 is invalid; pass an integer >= 1"),
        ("augment", ["--minutes", "nan"], "argument --minutes: nan is invalid; pass a finite number > 0"),
        ("augment", ["--limits", "-5"], "argument --limits: -5 is invalid; pass an integer >= 0"),
        ("augment", ["--json", "/no/such/folder/a.jsonl"], "argument --json: the folder of '/no/such/folder/a.jsonl'"),
        (
            "quickstart",
            ["--steps", "2", "--speed-steps", "0"],
            "argument --speed-steps: 0 is invalid; pass an integer >= 1",
        ),
    ],
)
def test_a_bad_argument_is_one_line_and_writes_nothing(script, argv, says, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EARTHMOVER_MNIST", str(Path(__file__).parent / "data" / "mnist_small.npz"))
    out = tmp_path / "out"
    takes_out = script in ("conditional", "growing")
    last = run_main(script, [*argv, *(["--out", str(out)] if takes_out else [])], monkeypatch, capsys)
    assert says in last
    assert not out.exists()
