"""``http(s)://.../file.npz`` and ``file:///.../file.npz``: fetched once into
``<cache dir>/downloads/`` (see :mod:`earthmover.data.download`: never a partial file), then
read as an ``.npz``/``.npy``. A body that is not one (an HTML error page, say) is refused."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from earthmover.data.download import default_cache_dir, download, keep_cached, url_filename
from earthmover.errors import EarthmoverError

__all__ = ["URL", "fetch_url"]

URL = re.compile(r"^(https?|file)://", re.IGNORECASE)


def fetch_url(url: str, cache_dir) -> Path:
    """The cached copy of ``url`` (downloaded on first use)."""
    filename = url_filename(url)
    if Path(filename).suffix.lower() not in (".npz", ".npy"):
        raise EarthmoverError(
            f"URL {url!r}: expected a URL to an .npz (or .npy) file; download other formats yourself and pass the path"
        )
    target = default_cache_dir(cache_dir) / "downloads" / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{filename}"
    if keep_cached(target, url):  # an unreadable cached copy is moved aside (issue 26)
        return target

    def check_magic(path: Path) -> None:
        with open(path, "rb") as fh:
            head = fh.read(6)
        ok = head.startswith(b"PK") if filename.lower().endswith(".npz") else head == b"\x93NUMPY"
        if not ok:
            raise EarthmoverError(
                f"URL {url!r}: the downloaded file is not a valid {Path(filename).suffix} (starts with {head!r}); "
                "check the address"
            )

    fix = "check the address and your connection, or download it and pass the path"
    return download(url, target, fix=fix, check=check_magic)
