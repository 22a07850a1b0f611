"""benchmarks/gpu.sh (issue 25) resolves every configuration and precision on a CPU (--dry-run), so the
run prepared for a lent GPU does not fail on a name or a flag."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_dry_run_resolves_every_cell(tmp_path):
    out = tmp_path / "plan.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["sh", str(ROOT / "benchmarks" / "gpu.sh"), "--dry-run", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    plan = json.loads(out.read_text())
    assert plan["dry_run"] is True
    assert set(plan["built"]) == {"gp-mnist", "dcgan", "resnet"}
    assert plan["amps"] == {"none": "None", "bf16": "torch.bfloat16", "fp16": "torch.float16"}
    cells = {tuple(c) for c in plan["cells"]}
    assert len(cells) == 3 * 3 * 2 * 2  # configs x precisions x channels_last x compile, each once
    assert {c[1] for c in cells} == {"none", "bf16", "fp16"} and {(c[2], c[3]) for c in cells} == {
        (False, False),
        (False, True),
        (True, False),
        (True, True),
    }


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA machine runs the real thing")
def test_gpu_run_without_cuda_says_so_and_writes_nothing(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--out", str(out)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "no CUDA device" in done.stdout and not out.exists()
