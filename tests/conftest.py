"""Test-session set-up shared by every test file.

* The tests exercise the checkout they live in: its ``src`` goes first on ``sys.path`` and on
  ``PYTHONPATH`` (which the real-process tests inherit), whatever copy of earthmover is
  installed (an editable install of another clone, say).
* Thread hygiene: runs set torch's thread count from run.threads; give it back after each test.
"""

import os
import sys
from pathlib import Path

import pytest
import torch

_SRC = str(Path(__file__).resolve().parents[1] / "src")
if sys.path[0] != _SRC:
    sys.path.insert(0, _SRC)
os.environ["PYTHONPATH"] = os.pathsep.join([_SRC, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])


@pytest.fixture(autouse=True)
def _keep_threads():
    """Runs set torch's thread count from run.threads; give it back after each test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
