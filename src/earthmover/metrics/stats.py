"""FID reference statistics on disk, in pytorch-fid's and TTUR's format.

A statistics file is an ``.npz`` holding float64 ``mu`` (D,) and ``sigma`` (D, D), the keys pytorch-fid
(``--save-stats``) and TTUR (``fid_stats_*.npz``) read and write. earthmover adds string metadata beside
them (``features``: the extractor's name, ``extractor_id``: its weights' hash, ``n``: the image count,
``resize``: the Inception resize mode); other tools ignore the extra keys, and files written by those
tools (``mu`` and ``sigma`` only) are read with the metadata unknown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from earthmover.errors import EarthmoverError
from earthmover.metrics.features import extractor_id, resize_mode
from earthmover.metrics.fid import frechet_distance, gaussian_stats
from earthmover.metrics.result import MetricResult

UNKNOWN = "unknown"


@dataclass(frozen=True)
class FidStats:
    """Mean and covariance of one image set's features, with what they were computed from."""

    mu: np.ndarray
    sigma: np.ndarray
    features: str = UNKNOWN
    extractor_id: str = UNKNOWN
    n: int = 0
    resize: str = UNKNOWN
    source: str = ""
    """The image set the statistics describe (or the file they were read from)."""

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])


def stats_of(values: np.ndarray, **meta) -> FidStats:
    """The statistics of (N, D) features; ``meta`` as in :class:`FidStats`."""
    mu, sigma = gaussian_stats(values)
    return FidStats(mu, sigma, n=len(values), **meta)


def save_stats(path: str | os.PathLike, stats: FidStats) -> None:
    """Write ``stats`` to ``path`` (atomically: a temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    meta: dict[str, Any] = {
        k: np.array(str(getattr(stats, k))) for k in ("features", "extractor_id", "resize", "source")
    }
    try:
        np.savez(tmp, mu=stats.mu.astype(np.float64), sigma=stats.sigma.astype(np.float64), n=np.int64(stats.n), **meta)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def is_stats_file(spec) -> bool:
    """True when ``spec`` names an existing ``.npz`` holding ``mu`` and ``sigma`` (and so no images)."""
    if not isinstance(spec, (str, os.PathLike)) or not os.fspath(spec).endswith(".npz"):
        return False
    path = Path(spec).expanduser()
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as d:
            return "mu" in d.files and "sigma" in d.files
    except (OSError, ValueError):
        return False


def load_stats(path: str | os.PathLike) -> FidStats:
    """Read a statistics file written by earthmover, pytorch-fid or TTUR."""
    with np.load(Path(path).expanduser(), allow_pickle=False) as d:
        mu, sigma = np.asarray(d["mu"], np.float64), np.asarray(d["sigma"], np.float64)
        meta = {k: str(d[k]) for k in ("features", "extractor_id", "resize") if k in d.files}
        n = int(d["n"]) if "n" in d.files else 0
    if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
        raise EarthmoverError(
            f"statistics {path}: mu has shape {mu.shape} and sigma {sigma.shape}; expected (D,) and (D, D)"
        )
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise EarthmoverError(
            f"statistics {path}: mu or sigma holds NaN or infinite values; rewrite them with `earthmover stats`"
        )
    return FidStats(mu, sigma, n=n, source=os.fspath(path), **meta)


def check_compatible(stats: FidStats, features: str, extractor_id: str, dim: int, resize: str = UNKNOWN) -> None:
    """Refuse statistics from another feature network, resize mode or dimension, naming both sides."""
    problems = []
    if stats.dim != dim:
        problems.append(f"{stats.dim}-d features there, {dim}-d here")
    if stats.features not in (UNKNOWN, features):
        problems.append(f"features {stats.features!r} there, {features!r} here")
    elif stats.extractor_id not in (UNKNOWN, extractor_id):
        problems.append(f"network {stats.extractor_id} there, {extractor_id} here")
    if stats.resize not in (UNKNOWN, resize) and resize != UNKNOWN:
        problems.append(f"resize {stats.resize!r} there, {resize!r} here")
    if problems:
        raise EarthmoverError(
            f"statistics {stats.source}: {'; '.join(problems)}; compute both sides with the same --features "
            "(and --resize), e.g. rewrite the statistics with `earthmover stats`"
        )


def fid_against(features: np.ndarray, stats: FidStats) -> float:
    """FID of (N, D) features against saved statistics."""
    return frechet_distance(*gaussian_stats(features), stats.mu, stats.sigma)


def stats_result(features: np.ndarray, stats: FidStats, features_name: str, extractor) -> MetricResult:
    """FID of (N, D) features against ``stats`` after checking both come from the same network and resize."""
    check_compatible(stats, features_name, extractor_id(extractor), features.shape[1], resize_mode(extractor))
    return MetricResult(
        "fid",
        fid_against(features, stats),
        len(features),
        stats.n,
        features=features_name,
        reference=stats.source,
        extractor_id=extractor_id(extractor),
        extra={"reference_statistics": stats.source}
        | ({"resize": resize_mode(extractor)} if resize_mode(extractor) != "none" else {}),
    )


INCEPTION_DIM = 2048
# The in-loop default --run.eval-n 2000 stays. In-loop FID is a trend read against itself at one fixed n, and
# its default features on digit data are the 128-d digit classifier (2000 >> 128). For Inception features FID's
# upward bias shrinks like 1/n at every n; 2,049 samples (the least for a full-rank covariance) would not remove
# it, only move it by ~2%, for 2.5% more sampling per evaluation. Published-style numbers come from
# `earthmover eval`/`fid` (default 10,000), and those warn below 2,048 per side.


def small_sample_warning(features: str, n: int, n_reference: int) -> str | None:
    """One line when an Inception FID rests on fewer samples per side than feature dimensions."""
    if features != "inception" or min(n, n_reference or n) >= INCEPTION_DIM:
        return None
    return (
        f"warning: Inception FID on {n} samples against {n_reference or '?'} reference images: with fewer than "
        f"{INCEPTION_DIM} per side the {INCEPTION_DIM}x{INCEPTION_DIM} covariance is rank-deficient and FID is "
        "biased upward (TTUR #4, pytorch-fid #13); compare only FIDs taken at the same n (10,000 or 50,000 is usual)"
    )


JPEG_SUFFIXES = (".jpg", ".jpeg")


def jpeg_warning(*specs) -> str | None:
    """One line when any of the image sets is a folder holding JPEG files."""
    for spec in specs:
        if isinstance(spec, (str, os.PathLike)) and Path(spec).expanduser().is_dir():
            folder = Path(spec).expanduser()
            if any(p.suffix.lower() in JPEG_SUFFIXES for p in folder.rglob("*")):
                return (
                    f"warning: {spec} holds JPEG files; JPEG compression moves FID (clean-fid measured it), "
                    "so compare against references decoded the same way, or use PNGs"
                )
    return None
