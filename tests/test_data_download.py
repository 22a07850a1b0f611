"""The public datasets by name (mnist, fashion-mnist, cifar10): download from a file server on
127.0.0.1 serving small fixtures made here, SHA-256 verification, the cache, what is left on disk
after a refused or cut-short transfer, and the one-line error without network. The real URL table
is replaced in every test (data_support.isolated); nothing leaves this machine."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import re
import struct
import tarfile

import numpy as np
import pytest
import torch

from data_support import CLOSED, isolated  # noqa: F401 (the autouse fixture)
from earthmover.data.images import load_images
from earthmover.data.sources import public
from earthmover.data.sources.public import DATASETS, Remote
from earthmover.errors import EarthmoverError


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def mnist_files():
    """Four small IDX files, named and laid out as MNIST's originals: name -> bytes, and the arrays."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 12, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    files = {
        "train-images-idx3-ubyte.gz": idx_bytes(arrays["x_train"]),
        "train-labels-idx1-ubyte.gz": idx_bytes(arrays["y_train"]),
        "t10k-images-idx3-ubyte.gz": idx_bytes(arrays["x_test"]),
        "t10k-labels-idx1-ubyte.gz": idx_bytes(arrays["y_test"]),
    }
    return files, arrays


def serve(monkeypatch, root, name, files, mirrors, digests=None):
    """Put ``files`` under the server's ``root`` and point the dataset ``name`` at ``mirrors``."""
    for file, data in files.items():
        (root / file).write_bytes(data)
    remotes = tuple(Remote(f, (digests or {}).get(f, sha(d)), len(d)) for f, d in files.items())
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(DATASETS[name], mirrors=tuple(mirrors), files=remotes))


def cache_files(tmp_path):
    """The cache's files, less the lock files that serialize downloads."""
    return sorted(
        p.relative_to(tmp_path / "cache").as_posix()
        for p in (tmp_path / "cache").rglob("*")
        if p.is_file() and p.name != ".lock"
    )


# The canonical files' SHA-256 digests (lower-case hex) and sizes in bytes, written out a second time
# here, so that one changed digit in the shipped table turns the test red. The sizes are the ones the
# datasets' own pages publish; CIFAR-10 is the binary archive, never the pickled python one.
CANONICAL = {
    ("mnist", "train-images-idx3-ubyte.gz"): (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        9912422,
    ),
    ("mnist", "train-labels-idx1-ubyte.gz"): (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        28881,
    ),
    ("mnist", "t10k-images-idx3-ubyte.gz"): (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        1648877,
    ),
    ("mnist", "t10k-labels-idx1-ubyte.gz"): ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    ("fashion-mnist", "train-images-idx3-ubyte.gz"): (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        26421880,
    ),
    ("fashion-mnist", "train-labels-idx1-ubyte.gz"): (
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        29515,
    ),
    ("fashion-mnist", "t10k-images-idx3-ubyte.gz"): (
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        4422102,
    ),
    ("fashion-mnist", "t10k-labels-idx1-ubyte.gz"): (
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        5148,
    ),
    ("cifar10", "cifar-10-binary.tar.gz"): (
        "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
        170052171,
    ),
}


def test_real_table_is_sha256_of_the_canonical_files():
    """The shipped table (the test fixture swaps only the mirrors): each dataset's files, in order,
    with their SHA-256 digests and sizes, and the canonical hosts first."""
    table = {(d.name, r.file): (r.sha256, r.size) for d in public.DATASETS.values() for r in d.files}
    assert table == CANONICAL
    assert list(table) == list(CANONICAL)  # the order the readers expect (images before labels)
    assert all(re.fullmatch("[0-9a-f]{64}", digest) for digest, _ in table.values())


def test_good_download_then_cache_without_server(local_server, monkeypatch, tmp_path, mnist_files, capsys):
    root, base, requests = local_server
    files, arrays = mnist_files
    serve(monkeypatch, root, "mnist", files, [base + "/"])
    train = load_images("mnist")
    assert train.name == "mnist:train" and train.images.shape == (12, 1, 28, 28) and train.num_classes == 10
    assert torch.equal(train.images[:, 0], torch.from_numpy(arrays["x_train"]))
    assert train.labels.tolist() == arrays["y_train"].tolist()
    assert sorted(requests) == sorted("/" + f for f in files)
    assert "downloading train-images-idx3-ubyte.gz" in capsys.readouterr().err  # the progress bar
    stored = cache_files(tmp_path)
    assert [f for f in stored if f.endswith(".gz")] == sorted(f"datasets/mnist/{f}" for f in files)
    assert not [f for f in stored if f.endswith(".part") or "/." in f]
    requests.clear()
    for file in files:
        (root / file).unlink()  # the second run must not need the server
    test = load_images("mnist:test")
    assert requests == [] and torch.equal(test.images[:, 0], torch.from_numpy(arrays["x_test"]))


def test_wrong_checksum_refused_nothing_cached(local_server, monkeypatch, tmp_path, mnist_files):
    root, base, _ = local_server
    files, _ = mnist_files
    serve(monkeypatch, root, "mnist", files, [base + "/"], digests={"train-images-idx3-ubyte.gz": "0" * 64})
    with pytest.raises(EarthmoverError, match="checksum mismatch") as err:
        load_images("mnist")
    assert "\n" not in str(err.value) and "train-images-idx3-ubyte.gz" in str(err.value)
    assert cache_files(tmp_path) == []


def test_truncated_transfer_leaves_nothing(local_server, monkeypatch, tmp_path, mnist_files):
    root, base, requests = local_server
    files, _ = mnist_files
    serve(monkeypatch, root, "mnist", files, [base + "/truncated/"])
    with pytest.raises(EarthmoverError, match="download failed.*cut short"):
        load_images("mnist")
    assert requests == ["/truncated/train-images-idx3-ubyte.gz"]
    assert cache_files(tmp_path) == []


def test_concurrent_loads_download_once(local_server, monkeypatch, mnist_files):
    """torchrun starts every rank at once: one downloads, the others wait and read its result."""
    import threading

    root, base, requests = local_server
    files, arrays = mnist_files
    serve(monkeypatch, root, "mnist", files, [base + "/"])
    results = []
    threads = [threading.Thread(target=lambda: results.append(load_images("mnist"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 3 and all(torch.equal(r.images, results[0].images) for r in results)
    assert sorted(requests) == sorted("/" + f for f in files)  # each file fetched once


def test_next_mirror_when_the_first_is_down(local_server, monkeypatch, mnist_files):
    root, base, requests = local_server
    files, arrays = mnist_files
    serve(monkeypatch, root, "mnist", files, [CLOSED, base + "/"])
    assert load_images("mnist:test").labels.tolist() == arrays["y_test"].tolist()
    assert len(requests) == 4


def test_offline_one_line_names_every_url_and_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EARTHMOVER_DATA", str(tmp_path / "data"))
    with pytest.raises(EarthmoverError) as err:
        load_images("fashion-mnist")
    message = str(err.value)
    assert "\n" not in message
    urls = [CLOSED + r.file for r in DATASETS["fashion-mnist"].files]
    assert all(url in message for url in urls) and len(urls) == 4  # every file, not only the first
    assert f"save them in {tmp_path / 'data' / 'fashion-mnist'}:" in message
    assert "EARTHMOVER_MNIST" not in message  # that is MNIST's alone
    assert [p.name for p in (tmp_path / "data").rglob("*") if p.is_file()] in ([], [".lock"])


def test_offline_mnist_names_the_files_still_missing_and_the_npz_layout(tmp_path, monkeypatch, mnist_files):
    files, arrays = mnist_files
    serve(monkeypatch, tmp_path, "mnist", files, [CLOSED])  # the right digests, no server
    folder = tmp_path / "cache" / "datasets" / "mnist"
    folder.mkdir(parents=True)
    placed = ["train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    for file in placed:  # copied by hand: verified and kept
        (folder / file).write_bytes(files[file])
    with pytest.raises(EarthmoverError) as err:
        load_images("mnist")
    message = str(err.value)
    assert "\n" not in message
    assert f"fetch these 2 files elsewhere and save them in {folder}: " in message
    assert f"{CLOSED}train-images-idx3-ubyte.gz, {CLOSED}t10k-images-idx3-ubyte.gz" in message
    assert not any(file in message for file in placed)
    assert f"or set EARTHMOVER_MNIST to {public.MNIST_NPZ}" in message


def test_the_mnist_npz_layout_the_error_gives_is_what_is_read(tmp_path, monkeypatch, mnist_files):
    _, arrays = mnist_files
    names = re.findall(r"\b([xy]_(?:train|test)) \(", public.MNIST_NPZ)
    assert sorted(names) == sorted(arrays) and "uint8" in public.MNIST_NPZ
    np.savez(tmp_path / "mnist.npz", **{name: arrays[name] for name in names})
    monkeypatch.setenv("EARTHMOVER_MNIST", str(tmp_path / "mnist.npz"))
    test = load_images("mnist:test")
    assert torch.equal(test.images[:, 0], torch.from_numpy(arrays["x_test"]))
    assert test.labels.tolist() == arrays["y_test"].tolist()


def test_cli_offline_exits_2_with_one_line(tmp_path, capsys):
    from earthmover.cli import main

    np.savez(tmp_path / "s.npz", x=np.zeros((4, 28, 28), dtype=np.uint8))
    code = main(["fid", str(tmp_path / "s.npz"), "fashion-mnist:test", "--features", "digits", "--n", "4"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "fashion-mnist" in err and "download failed" in err


def test_file_placed_by_hand_is_used_without_download(local_server, monkeypatch, tmp_path, mnist_files):
    root, base, requests = local_server
    files, arrays = mnist_files
    serve(monkeypatch, root, "fashion-mnist", files, [base + "/"])
    monkeypatch.setenv("EARTHMOVER_DATA", str(tmp_path / "data"))
    folder = tmp_path / "data" / "fashion-mnist"
    folder.mkdir(parents=True)
    for file, data in files.items():
        (folder / file).write_bytes(data)
    s = load_images("fashion-mnist:test")
    assert requests == [] and s.classes[0] == "T-shirt/top" and s.name == "fashion-mnist:test"
    assert torch.equal(s.images[:, 0], torch.from_numpy(arrays["x_test"]))


def test_wrong_file_placed_by_hand_is_named(local_server, monkeypatch, tmp_path, mnist_files):
    root, base, _ = local_server
    files, _ = mnist_files
    serve(monkeypatch, root, "mnist", files, [base + "/"])
    folder = tmp_path / "cache" / "datasets" / "mnist"
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"something else")
    with pytest.raises(EarthmoverError, match="train-images-idx3-ubyte.gz.*SHA-256.*delete it"):
        load_images("mnist")


def test_local_mnist_npz_is_used_without_download(local_server, monkeypatch, tmp_path, mnist_files):
    root, base, requests = local_server
    files, _ = mnist_files
    serve(monkeypatch, root, "mnist", files, [base + "/"])
    shared = tmp_path / "work" / "shared" / "data" / "mnist.npz"  # beside a parent of the cwd
    shared.parent.mkdir(parents=True)
    np.savez(
        shared,
        x_train=np.zeros((3, 28, 28), np.uint8),
        y_train=np.arange(3),
        x_test=np.zeros((2, 28, 28), np.uint8),
        y_test=np.arange(2),
    )
    assert len(load_images("mnist")) == 3 and requests == []


def cifar_archive(rng) -> tuple[bytes, dict]:
    """A CIFAR-10 binary archive in the original layout, 3 records per batch file."""
    buffer, records = io.BytesIO(), {}
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        members = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
        for member in members:
            rec = rng.integers(0, 256, (3, 3073), dtype=np.uint8)
            rec[:, 0] %= 10
            records[member] = rec
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{member}")
            info.size = rec.nbytes
            tar.addfile(info, io.BytesIO(rec.tobytes()))
        meta = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"
        info = tarfile.TarInfo("cifar-10-batches-bin/batches.meta.txt")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
    return buffer.getvalue(), records


def test_cifar10_binary_archive(local_server, monkeypatch):
    root, base, _ = local_server
    archive, records = cifar_archive(np.random.default_rng(1))
    serve(monkeypatch, root, "cifar10", {"cifar-10-binary.tar.gz": archive}, [base + "/"])
    train, test = load_images("cifar10"), load_images("cifar10:test")
    assert train.images.shape == (15, 3, 32, 32) and test.images.shape == (3, 3, 32, 32)
    assert train.classes[-1] == "truck" and train.name == "cifar10:train"
    first = records["data_batch_1.bin"][0]
    assert train.labels[0].item() == first[0]
    assert torch.equal(train.images[0, 0].flatten(), torch.from_numpy(first[1:1025].copy()))  # red plane, row-major
    assert torch.equal(train.images[0, 2].flatten(), torch.from_numpy(first[2049:].copy()))  # blue plane
    assert test.labels.tolist() == records["test_batch.bin"][:, 0].tolist()


def test_cifar10_archive_missing_a_batch(local_server, monkeypatch):
    root, base, _ = local_server
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        info.size = 3073
        tar.addfile(info, io.BytesIO(bytes(3073)))
    serve(monkeypatch, root, "cifar10", {"cifar-10-binary.tar.gz": buffer.getvalue()}, [base + "/"])
    with pytest.raises(EarthmoverError, match="lacks data_batch_1.bin"):
        load_images("cifar10")


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist:test", "cifar10"])
def test_train_offline_exits_2_with_one_line_and_no_run(tmp_path, capsys, name):
    from earthmover.cli import main

    code = main(["train", "--data", name, "--steps", "1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "download failed" in err and ("save it as" in err or "save them in" in err)
    assert not (tmp_path / "run").exists()
