"""Shared by the tests/test_data_*.py files: an isolated environment (no user cache, no
$EARTHMOVER_MNIST, no ../shared/data/mnist.npz, public datasets pointed at a closed local port)
and a file server on 127.0.0.1. Nothing here ever reaches the internet."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import threading

import pytest

from earthmover.data.sources import public

CLOSED = "http://127.0.0.1:9/"  # the discard port: connection refused at once


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test sees the user's cache, $EARTHMOVER_MNIST/$EARTHMOVER_DATA, or a shared mnist.npz;
    the public datasets' mirrors point at a closed local port, so no test can download them."""
    monkeypatch.delenv("EARTHMOVER_MNIST", raising=False)
    monkeypatch.delenv("EARTHMOVER_DATA", raising=False)
    monkeypatch.setenv("EARTHMOVER_CACHE", str(tmp_path / "cache"))
    work = tmp_path / "work" / "sub"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setattr(public, "_PACKAGE_DIR", tmp_path / "pkg")
    for name, dataset in list(public.DATASETS.items()):
        monkeypatch.setitem(public.DATASETS, name, dataclasses.replace(dataset, mirrors=(CLOSED,)))


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
