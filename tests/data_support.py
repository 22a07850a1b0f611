"""Shared by the tests/test_data_*.py files: an isolated environment (no user cache, no
$EARTHMOVER_MNIST, no ../shared/data/mnist.npz, public datasets pointed at a closed local port).
The file server on 127.0.0.1 (``local_server``) is a fixture of conftest.py, so a test names it
only as a parameter. Nothing here ever reaches the internet."""

from __future__ import annotations

import dataclasses

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
