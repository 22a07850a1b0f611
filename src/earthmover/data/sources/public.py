"""The public datasets by name: ``mnist``, ``fashion-mnist`` and ``cifar10`` (``NAME:train``,
``NAME:test``), obtained on first use from their canonical locations.

Where the bytes come from
-------------------------
:data:`DATASETS` lists, per dataset, the original files, their SHA-256 and size, and the places
that serve them (tried in order). The digests are those TensorFlow Datasets records for the same
URLs (``tensorflow_datasets/url_checksums/{mnist,fashion_mnist,cifar10}.txt``); the MNIST files are
the original IDX files of LeCun et al., also mirrored by torchvision
(``ossci-datasets.s3.amazonaws.com/mnist``). CIFAR-10 is the *binary* version
(``cifar-10-binary.tar.gz``: one label byte and 3072 pixel bytes per record), read from the
archive in memory; the python version, which would need unpickling, is never used.

What happens on first use
-------------------------
Each file is downloaded into ``datasets_dir()/NAME/`` (``$EARTHMOVER_DATA``, else
``~/.cache/earthmover/datasets``) with a progress bar, checked against its SHA-256, and kept only
if it matches (:func:`earthmover.data.download.download`). The images are then decoded once into
``NAME-<digest>.npz`` (arrays ``x_train, y_train, x_test, y_test``) in the same folder; later
runs read that file and contact no server. A file already present in the folder (copied there
by hand on a machine without network) is verified and used without any download; without
network and without the file, the error names the URL, the file name and the folder to put it in.

MNIST first looks for a local ``mnist.npz`` (:func:`find_mnist`; its layout: :data:`MNIST_NPZ`): ``$EARTHMOVER_MNIST``,
``<cache dir>/mnist.npz``, and ``shared/data/mnist.npz`` beside the current directory or any of
its parents, then beside the repository this module lives in. One is used as is, with no download.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from earthmover.data.download import atomic_write_npz, datasets_dir, default_cache_dir, download, sha256_file
from earthmover.data.sources.idx import parse_idx
from earthmover.data.sources.npz import load_npz
from earthmover.data.sources.registry import ImageSource, register
from earthmover.errors import EarthmoverError

__all__ = [
    "Remote",
    "PublicDataset",
    "DATASETS",
    "MNIST_NPZ",
    "find_mnist",
    "load_public",
    "offline_fix",
    "prepared_path",
]

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Remote:
    """One original file: its name, SHA-256 and size in bytes."""

    file: str
    sha256: str
    size: int


@dataclass(frozen=True)
class PublicDataset:
    name: str
    mirrors: tuple[str, ...]
    """Base URLs (ending in ``/``) serving every file, tried in order."""
    files: tuple[Remote, ...]
    reader: str
    """``idx`` (train/t10k images and labels) or ``cifar-binary``."""
    classes: tuple[str, ...]


_MNIST_FILES = (
    Remote("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
    Remote("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    Remote("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    Remote("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
)
_FASHION_FILES = (
    Remote("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
    Remote("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
    Remote("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
    Remote("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
)

DATASETS: dict[str, PublicDataset] = {
    "mnist": PublicDataset(
        "mnist",
        ("https://storage.googleapis.com/cvdf-datasets/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        _MNIST_FILES,
        "idx",
        tuple(str(d) for d in range(10)),
    ),
    "fashion-mnist": PublicDataset(
        "fashion-mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        _FASHION_FILES,
        "idx",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
    "cifar10": PublicDataset(
        "cifar10",
        ("https://www.cs.toronto.edu/~kriz/",),
        (
            Remote(
                "cifar-10-binary.tar.gz", "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171
            ),
        ),
        "cifar-binary",
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    ),
}

_PACKAGE_DIR = Path(__file__).resolve().parent


def _search_roots() -> list[Path]:
    """Folders whose ancestors may hold ``shared/data/mnist.npz``: the cwd, then this module's."""
    return [Path.cwd(), _PACKAGE_DIR]


def find_mnist(cache_dir=None) -> Path | None:
    """Where a local ``mnist.npz`` is, or None (see the module docstring for the order)."""
    env = os.environ.get("EARTHMOVER_MNIST")
    candidates = [Path(env).expanduser()] if env else []
    candidates.append(default_cache_dir(cache_dir) / "mnist.npz")
    for root in _search_roots():
        candidates.extend(d / "shared" / "data" / "mnist.npz" for d in (root, *root.parents))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def prepared_path(dataset: PublicDataset, cache_dir=None) -> Path:
    """The decoded arrays' file; its name carries a digest of the original files' digests."""
    key = hashlib.sha256("".join(r.sha256 for r in dataset.files).encode()).hexdigest()[:10]
    return datasets_dir(cache_dir) / dataset.name / f"{dataset.name}-{key}.npz"


def load_public(name: str, split: str, cache_dir=None, progress: bool = True):
    """-> (images, labels, "NAME:SPLIT", classes) for a dataset of :data:`DATASETS`."""
    if name == "mnist":
        env = os.environ.get("EARTHMOVER_MNIST")
        if env and not Path(env).expanduser().is_file():
            raise EarthmoverError(f"EARTHMOVER_MNIST={env!r}: no such file; point it at an mnist.npz or unset it")
        local = find_mnist(cache_dir)
        if local is not None:
            images, labels, _, _ = load_npz(local, split, f"mnist:{split}")
            return images, labels, f"mnist:{split}", list(DATASETS["mnist"].classes)
    dataset = DATASETS[name]
    prepared = prepared_path(dataset, cache_dir)
    if not prepared.is_file():
        with _exclusive(prepared.parent):  # torchrun: one process downloads, the others then read
            if not prepared.is_file():
                missing = [r for r in dataset.files if not (prepared.parent / r.file).is_file()]
                fix = offline_fix(dataset, prepared.parent, missing)
                originals = [_obtain(dataset, remote, prepared.parent, progress, fix) for remote in dataset.files]
                arrays = _read_idx_set(originals) if dataset.reader == "idx" else _read_cifar_binary(originals[0])
                atomic_write_npz(prepared, **arrays)
    images, labels, _, _ = load_npz(prepared, split, f"{name}:{split}")
    return images, labels, f"{name}:{split}", list(dataset.classes)


@contextlib.contextmanager
def _exclusive(folder: Path):
    """Hold an exclusive lock on ``folder/.lock`` (where fcntl exists; elsewhere no lock)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: processes may download side by side; the renames stay atomic
        yield
        return
    with open(folder / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


MNIST_NPZ = (
    "an mnist.npz holding uint8 arrays x_train (60000, 28, 28), y_train (60000,), x_test (10000, 28, 28) and "
    "y_test (10000,), the layout of Keras's mnist.npz"
)
"""What ``$EARTHMOVER_MNIST`` points at (any number of images per split is read)."""


def offline_fix(dataset: PublicDataset, folder: Path, missing: list[Remote]) -> str:
    """What to do without network: every file still missing, where to get it and where to put it."""
    urls = [dataset.mirrors[0] + r.file for r in missing]
    if len(urls) == 1:
        fix = f"without network, fetch {urls[0]} elsewhere and save it as {folder / missing[0].file}"
    else:
        fix = f"without network, fetch these {len(urls)} files elsewhere and save them in {folder}: {', '.join(urls)}"
    return fix + (f" (or set EARTHMOVER_MNIST to {MNIST_NPZ})" if dataset.name == "mnist" else "")


def _obtain(dataset: PublicDataset, remote: Remote, folder: Path, progress: bool, fix: str) -> Path:
    """The verified original file in ``folder``: already there, or downloaded from the first mirror that works;
    ``fix`` ends the error when no mirror can be reached."""
    target = folder / remote.file
    if target.is_file():
        got = sha256_file(target)
        if got != remote.sha256:
            raise EarthmoverError(
                f"file {str(target)!r}: SHA-256 {got[:16]}... where {remote.sha256[:16]}... was expected; "
                f"delete it to download it again, or replace it with the original {remote.file}"
            )
        return target
    errors = []
    for base in dataset.mirrors:
        try:
            return download(base + remote.file, target, sha256=remote.sha256, fix=fix, progress=progress)
        except EarthmoverError as err:
            errors.append(err)
    raise errors[0]


def _read_idx_set(paths: list[Path]) -> dict[str, np.ndarray]:
    import gzip

    by_name = {p.name: p for p in paths}
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        for key, kind in (("x", "images-idx3"), ("y", "labels-idx1")):
            path = by_name[f"{prefix}-{kind}-ubyte.gz"]
            try:
                with gzip.open(path, "rb") as fh:
                    data = fh.read()
            except (OSError, EOFError) as err:
                raise EarthmoverError(
                    f"IDX file {str(path)!r}: cannot be read ({err}); delete it to download it again"
                ) from None
            arrays[f"{key}_{split}"] = parse_idx(data, str(path))
    return arrays


CIFAR_RECORD = 1 + 3 * 32 * 32
_CIFAR_MEMBERS = {f"data_batch_{i}.bin": "train" for i in range(1, 6)} | {"test_batch.bin": "test"}


def _read_cifar_binary(path: Path) -> dict[str, np.ndarray]:
    """CIFAR-10's binary archive, read in memory (nothing extracted to disk): records of one label
    byte and 3072 bytes of pixels (1024 red, 1024 green, 1024 blue, each row-major 32x32)."""
    parts: dict[str, dict[str, np.ndarray]] = {"train": {}, "test": {}}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in _CIFAR_MEMBERS:
                    data = tar.extractfile(member).read()  # type: ignore[union-attr]  # a file: not None
                    if len(data) % CIFAR_RECORD:
                        raise EarthmoverError(
                            f"CIFAR-10 archive {str(path)!r}: {base} holds {len(data)} bytes, not a whole number of "
                            f"{CIFAR_RECORD}-byte records; delete the archive to download it again"
                        )
                    parts[_CIFAR_MEMBERS[base]][base] = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise EarthmoverError(
            f"CIFAR-10 archive {str(path)!r}: cannot be read ({err}); delete it to download it again"
        ) from None
    missing = sorted(set(_CIFAR_MEMBERS) - set(parts["train"]) - set(parts["test"]))
    if missing:
        raise EarthmoverError(
            f"CIFAR-10 archive {str(path)!r}: lacks {', '.join(missing)}; delete it to download it again"
        )
    arrays = {}
    for split, members in parts.items():
        records = np.concatenate([members[k] for k in sorted(members)])
        arrays[f"x_{split}"] = np.ascontiguousarray(records[:, 1:].reshape(-1, 3, 32, 32))
        arrays[f"y_{split}"] = records[:, 0].astype(np.int64)
    return arrays


# ---------------------------------------------------------------------------------- registration (data.name)


def _loader(name: str):
    def load(split: str, cache_dir=None, limit=None, argument: str = ""):
        return load_public(name, split, cache_dir)

    return load


for _dataset, _summary in (
    (DATASETS["mnist"], "LeCun et al.'s handwritten digits, 28x28 gray, 60,000 train / 10,000 test"),
    (DATASETS["fashion-mnist"], "Zalando's clothing images, 28x28 gray, 60,000 train / 10,000 test"),
    (DATASETS["cifar10"], "Krizhevsky's 32x32 RGB images in 10 classes, 50,000 train / 10,000 test"),
):
    register(
        ImageSource(
            _dataset.name,
            _loader(_dataset.name),
            _summary,
            splits=SPLITS,
            test_split="test",
            labels=True,
            checksum="SHA-256 of the original files (" + ", ".join(r.file for r in _dataset.files) + ")",
        )
    )
