"""Downloads and the on-disk cache: one verified file at a time, never half-written.

Where things live
-----------------
``default_cache_dir()``
    ``$EARTHMOVER_CACHE``, else ``~/.cache/earthmover`` (feature statistics, URL downloads,
    decoded image folders).
``datasets_dir()``
    ``$EARTHMOVER_DATA``, else ``<cache dir>/datasets``: the public datasets (``mnist``,
    ``fashion-mnist``, ``cifar10``), one folder each holding the original files and the
    decoded arrays.

How a file is fetched (:func:`download`)
----------------------------------------
The body streams into a hidden ``.part`` file beside the target, with a progress bar on stderr
and its SHA-256 computed on the way; only a complete transfer whose digest matches (when one is
expected) is renamed onto the target, in one atomic step. A refused digest, a short transfer, an
interruption or a network error removes the ``.part`` file, so the cache never holds a partial
or unverified file and the next run starts clean.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from earthmover.errors import EarthmoverError
from earthmover.odd_paths import env_folder

__all__ = [
    "default_cache_dir",
    "datasets_dir",
    "download",
    "sha256_file",
    "url_filename",
    "atomic_write_npz",
    "atomic_write_npy",
]

CHUNK = 1 << 20
TIMEOUT_S = 60


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else ``$EARTHMOVER_CACHE``, else ``~/.cache/earthmover``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return env_folder("EARTHMOVER_CACHE") or Path.home() / ".cache" / "earthmover"


def datasets_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``$EARTHMOVER_DATA``, else ``<cache dir>/datasets`` (``cache_dir`` given explicitly wins)."""
    env = env_folder("EARTHMOVER_DATA") if cache_dir is None else None
    return env or default_cache_dir(cache_dir) / "datasets"


def url_filename(url: str) -> str:
    try:
        return Path(urllib.parse.urlparse(url).path).name or url
    except ValueError as exc:  # "Invalid IPv6 URL" (issue 26)
        raise EarthmoverError(f"URL {url!r} is not a valid address ({exc}); check it") from None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, target: Path, *, sha256: str | None = None, fix: str, progress: bool = True, check=None) -> Path:
    """Fetch ``url`` into ``target`` (see the module docstring); returns ``target``.

    ``fix`` ends the one-line error when the transfer fails (what the user can do instead);
    ``check(path)`` may inspect the complete temporary file and raise before it is kept."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            bar = _progress_bar(total, target.name, progress)
            received = 0
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            finally:
                bar.close()
        if total is not None and received != total:
            raise EarthmoverError(
                f"URL {url!r}: download failed (got {received} of {total} bytes, the transfer was cut short); {fix}"
            )
        got = digest.hexdigest()
        if sha256 is not None and got != sha256.lower():
            raise EarthmoverError(
                f"URL {url!r}: checksum mismatch, SHA-256 {got[:16]}... where {sha256[:16]}... was expected; "
                f"nothing was kept: retry, or {fix}"
            )
        if check is not None:
            check(Path(tmp))
        numpy_reason = readable_numpy_reason(Path(tmp), target.suffix)
        if numpy_reason:  # validated before it enters the cache (issue 26)
            raise EarthmoverError(
                f"URL {url!r}: the downloaded file is not a valid {target.suffix} ({numpy_reason}); {fix}"
            )
        os.replace(tmp, target)
    except EarthmoverError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        text = str(reason).splitlines()[0] if str(reason) else type(err).__name__
        raise EarthmoverError(f"URL {url!r}: download failed ({text}); {fix}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def readable_numpy_reason(path: Path, suffix: str) -> str | None:
    """Why the ``.npz``/``.npy`` file at ``path`` cannot be read in full, or None (other suffixes: None)."""
    import numpy as np

    if suffix.lower() not in (".npz", ".npy"):
        return None
    try:
        if suffix.lower() == ".npy":
            np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as z:
                for key in z.files:
                    z[key]
    except Exception as exc:  # whatever a corrupt file makes numpy or zipfile raise
        text = str(exc).splitlines()[0] if str(exc) else ""
        return f"{type(exc).__name__}: {text[:120]}"
    return None


def keep_cached(target: Path, url: str) -> bool:
    """Whether the cached copy ``target`` of ``url`` can be used; one that cannot be read in full
    (left by an older version, or damaged) is moved aside to ``rejected/`` with one line on stderr,
    and the caller downloads it again."""
    if not target.is_file():
        return False
    reason = readable_numpy_reason(target, target.suffix)
    if reason is None:
        return True
    aside = target.parent / "rejected" / target.name
    aside.parent.mkdir(exist_ok=True)
    os.replace(target, aside)
    print(f"earthmover: the cached copy of {url} is unreadable ({reason}); moved aside to {aside}", file=sys.stderr)
    return False


def _progress_bar(total: int | None, name: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=f"downloading {name}",
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not enabled,
        leave=False,
        dynamic_ncols=True,
    )


def atomic_write_npz(path: Path, **arrays) -> Path:
    """``numpy.savez`` to ``path`` through a temporary file and a rename (never a partial file)."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_npy(path: Path, array) -> Path:
    """``numpy.save`` to ``path`` through a temporary file and a rename (never a partial file)."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
