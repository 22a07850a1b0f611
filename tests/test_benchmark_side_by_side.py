"""benchmarks/mnist.py's side_by_side: the jobs a study runs in their own processes end with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

PARENT = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from mnist import side_by_side

def job(index, args, report):
    report({"pid": os.getpid()})
    time.sleep(120)

if __name__ == "__main__":
    side_by_side(job, [0, 1], None, lambda record: print(record["pid"], flush=True))
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has ended
        return f.read().split(") ")[1][0] != "Z"


def test_killing_a_study_stops_the_jobs_it_started(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    proc = subprocess.Popen([sys.executable, str(script), str(BENCHMARKS)], stdout=subprocess.PIPE, text=True)
    children = [int(proc.stdout.readline()) for _ in range(2)]  # both jobs have started
    assert all(alive(pid) for pid in children)
    proc.send_signal(signal.SIGTERM)  # `kill PID`: the parent alone, not its process group
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in children), "the jobs outlived the study: orphans training on"
