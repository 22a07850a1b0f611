"""Test-session set-up shared by every test file.

* The tests exercise the checkout they live in: its ``src`` goes first on ``sys.path`` and on
  ``PYTHONPATH`` (which the real-process tests inherit), whatever copy of earthmover is
  installed (an editable install of another clone, say).
* Hermetic runs: every cache, dataset folder and temporary directory of the tests and of the
  processes they start (torchrun's ``torchelastic_*`` logs, multiprocessing's ``pymp-*`` folders
  included) lives under pytest's temporary directory, never in the user's ``~/.cache/earthmover``
  or ``/tmp`` (``scripts/check_hermetic.sh`` checks it in CI). A test that sets one of these
  variables itself (``monkeypatch.setenv``) wins for that test.
* Thread hygiene: runs set torch's thread count from run.threads; give it back after each test.
"""

import os
import sys
import tempfile
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


@pytest.fixture(scope="session", autouse=True)
def _hermetic(tmp_path_factory):
    """Point the caches, dataset folder and temporary directory of this process and of every child
    process at folders under pytest's temporary directory for the whole session; restore them after."""
    root = tmp_path_factory.mktemp("hermetic")
    values = {
        "EARTHMOVER_CACHE": root / "cache",  # reference features, URL downloads, inception.pt
        "EARTHMOVER_DATA": root / "datasets",  # public datasets (tests of the default unset it themselves)
        "XDG_CACHE_HOME": root / "xdg-cache",  # torch, matplotlib and other HOME-relative caches
        "TMPDIR": root / "tmp",  # tempfile in children: torchelastic_*, pymp-*, torch's own
    }
    for path in values.values():
        path.mkdir()
    saved = {name: os.environ.get(name) for name in (*values, "EARTHMOVER_PLUGINS")}
    os.environ.update({name: str(path) for name, path in values.items()})
    os.environ.pop("EARTHMOVER_PLUGINS", None)  # a user's plug-ins would change what the tests run
    saved_tempdir, tempfile.tempdir = tempfile.tempdir, str(values["TMPDIR"])  # this process's tempfile
    try:
        yield root
    finally:
        tempfile.tempdir = saved_tempdir
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
