"""Checks every command runs before it starts work: validate and load first, write last.

A command that fails must fail before it has spent minutes or written a byte, with one line
(an :class:`~earthmover.errors.EarthmoverError`) that names the value and the fix:

- output locations (:func:`output_file`, :func:`output_dir`): a folder given where a file goes,
  a file where a folder goes, a missing parent folder, a folder that cannot be written;
- memory (:func:`check_memory`): an estimate of what a request needs against what the machine
  has, refused with both figures before anything is allocated;
- devices (:func:`resolve_device`): one check for ``train``, ``fid``, ``eval`` and ``sample``;
- numbers (:func:`int_at_least`, :func:`positive_float`): argparse types that refuse 0, negative
  or non-finite values with the flag's name.

Writability is tested by creating (and removing) a temporary file, never with ``os.access``, which
says yes to root for any folder; so an unwritable location is found also when running as root.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from earthmover.errors import EarthmoverError

# ---------------------------------------------------------------------------------- numbers


def int_at_least(low: int, example: int | None = None):
    """An argparse ``type`` for integers >= low (``--n 0``, ``--seed -1`` are refused by name)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer; pass an integer >= {low}") from None
        if value < low:
            hint = f" such as {example}" if example is not None else ""
            raise argparse.ArgumentTypeError(f"{value} is invalid; pass an integer >= {low}{hint}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def positive_float(example: float | None = None):
    """An argparse ``type`` for finite numbers > 0 (``nan``, ``inf``, 0 and negatives are refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; pass a finite number > 0") from None
        if not (math.isfinite(value) and value > 0):
            hint = f" such as {example}" if example is not None else ""
            raise argparse.ArgumentTypeError(f"{text} is invalid; pass a finite number > 0{hint}")
        return value

    parse.__name__ = "number > 0"
    return parse


# ---------------------------------------------------------------------------------- output locations


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and not probe.is_symlink():
        if probe.parent == probe:
            break
        probe = probe.parent
    return probe


def _writable_dir(folder: Path) -> bool:
    """Whether a file can be created in `folder` (tried for real: os.access says yes to root)."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".earthmover-probe-"):
            return True
    except OSError:
        return False


def _check_ancestors(path: Path, flag: str) -> Path:
    """The nearest existing ancestor of `path` must be a writable folder; returns it."""
    existing = _nearest_existing(path.parent if path.parent != path else path)
    if not existing.is_dir():
        raise EarthmoverError(
            f"{flag} {str(path)!r}: {str(existing)!r} is a file, not a folder; pick a path inside a folder"
        )
    if not _writable_dir(existing):
        raise EarthmoverError(
            f"{flag} {str(path)!r}: the folder {str(existing)!r} is not writable; pick a location you can write to"
        )
    return existing


def output_file(path: str | os.PathLike, flag: str, *, create_parents: bool = False, example: str = "out.json") -> Path:
    """Check that a file can be written at `path` (before any work); nothing is created.

    Refused: an existing folder at `path`; a parent that is a file; a parent folder that does not
    exist (unless `create_parents`: then its nearest existing ancestor must be writable); a folder
    that cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise EarthmoverError(f"{flag} {str(path)!r} is a folder; pass a file path such as {str(path / example)!r}")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise EarthmoverError(
            f"{flag} {str(path)!r}: {str(parent)!r} is a file, not a folder; pick a path inside a folder"
        )
    if not parent.exists():
        if not create_parents:
            existing = _nearest_existing(parent)
            if not existing.is_dir():
                raise EarthmoverError(
                    f"{flag} {str(path)!r}: {str(existing)!r} is a file, not a folder; pick a path inside a folder"
                )
            raise EarthmoverError(
                f"{flag} {str(path)!r}: the folder {str(parent)!r} does not exist; create it (mkdir -p {parent}) or pick another path"
            )
        _check_ancestors(path, flag)
        return path
    if not _writable_dir(parent):
        raise EarthmoverError(
            f"{flag} {str(path)!r}: the folder {str(parent)!r} is not writable; pick a location you can write to"
        )
    if path.exists() and not os.access(path, os.W_OK):  # access(2) also sees the immutable flag, for root too
        raise EarthmoverError(
            f"{flag} {str(path)!r} exists and cannot be overwritten; pick another path or make it writable"
        )
    return path


def output_dir(path: str | os.PathLike, flag: str) -> Path:
    """Check that `path` is (or can be created as) a writable folder; nothing is created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise EarthmoverError(f"{flag} {str(path)!r} is a file; pass a folder (it is created if missing)")
    if path.is_dir():
        if not _writable_dir(path):
            raise EarthmoverError(f"{flag} {str(path)!r} is not writable; pick a folder you can write to")
        return path
    _check_ancestors(path, flag)
    return path


def input_file(path: str | os.PathLike, flag: str, what: str = "file") -> Path:
    """An existing regular file (a folder or a missing path is named as such)."""
    path = Path(path)
    if path.is_dir():
        raise EarthmoverError(f"{flag} {str(path)!r} is a folder; pass a {what}")
    if path.exists() and not path.is_file():  # a named pipe would block the read (issue 26)
        raise EarthmoverError(f"{flag} {str(path)!r} is not a regular file (a pipe or a device); pass a {what}")
    if not path.is_file():
        raise EarthmoverError(f"{flag} {str(path)!r} does not exist; pass the path of a {what}")
    return path


# ---------------------------------------------------------------------------------- memory


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def available_memory(device=None) -> int | None:
    """Bytes that a new allocation can still get on `device` (CPU: MemAvailable; CUDA: free memory);
    None when unknown."""
    import torch

    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        try:
            free, _ = torch.cuda.mem_get_info(device)
            return int(free)
        except Exception:
            return None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(need: float, what: str, fix: str, device=None) -> None:
    """Refuse a request whose estimated memory `need` (bytes) exceeds what `device` has free."""
    have = available_memory(device)
    if have is not None and need > have:
        where = "free on the GPU" if device is not None and str(device).startswith("cuda") else "available"
        raise EarthmoverError(
            f"{what} needs about {format_bytes(need)} of memory but {format_bytes(have)} is {where}; {fix}"
        )


def network_sizes(config, sample_shape) -> tuple[int, int, int]:
    """(parameters of the generator, of the critic, activations per sample through both), counted on
    the meta device: nothing is allocated, whatever the width."""
    import torch

    from earthmover.train.build import build_critic, build_generator, build_plan, generator_takes_labels, label_users

    plan = build_plan(config)
    classes = 10 if label_users(config, plan) else 0  # a conditional run's label width, for the estimate only
    generator_labels = generator_takes_labels(config, plan)
    with torch.device("meta"):
        generator, latent_dim = build_generator(config, tuple(sample_shape), plan, classes)
        critic = build_critic(config, tuple(sample_shape), plan, classes)
    params_g = sum(p.numel() for p in generator.parameters())
    params_c = sum(p.numel() for p in critic.parameters())
    try:
        counts: list[int] = []

        def hook(module, inputs, output):
            if isinstance(output, torch.Tensor):
                counts.append(output[0].numel())

        handles = [
            m.register_forward_hook(hook)
            for net in (generator, critic)
            for m in net.modules()
            if not list(m.children())
        ]
        try:
            with torch.no_grad():
                labels = (torch.zeros(2, dtype=torch.long, device="meta"),)
                fake = generator(torch.zeros(2, latent_dim, device="meta"), *labels[: classes > 0 and generator_labels])
                critic(fake, *labels[: config.model.conditional != "none"])
        finally:
            for h in handles:
                h.remove()
        activations = sum(counts)
    except Exception:  # a layer without a meta kernel: count the parameters only
        activations = 0
    return params_g, params_c, activations


def training_memory(config, sample_shape, batch_size: int | None = None) -> float:
    """A rough lower bound, in bytes, of what one training step holds: float32 weights, gradients
    and two optimizer moments of both networks (plus the EMA copy), and per sample of the batch the
    data, a fake and the activations through both networks for the real and fake halves, kept for
    the backward pass and the gradient penalty's double backward (x3)."""
    import math as _math

    params_g, params_c, activations = network_sizes(config, sample_shape)
    per_sample = _math.prod(sample_shape)
    weights = 4 * (4 * params_g + 4 * params_c + (params_g if config.model.ema else 0))
    batch_size = config.data.batch_size if batch_size is None else batch_size
    batch = 4 * batch_size * (3 * per_sample + 3 * 2 * activations)
    return float(weights + batch)


# ---------------------------------------------------------------------------------- devices


def resolve_device(kind: str, ctx=None, name: str = "run.device"):
    """The torch device for `kind` (auto, cpu, cuda, cuda:N, mps); a missing device is one line
    naming `name` (the config field or the flag) and the fix. Under torchrun (`ctx`), plain "cuda"
    means this process's local GPU."""
    import torch

    kind = str(kind)
    said = f"{name} = {kind!r}" if "." in name else f"{name} {kind!r}"  # a config field, or a flag
    if kind == "auto":
        if torch.cuda.is_available():
            kind = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            kind = "mps"
        else:
            kind = "cpu"
    try:
        device = torch.device(kind)
    except (RuntimeError, ValueError):
        raise EarthmoverError(f"{said} is not a device; use cpu, cuda, cuda:N, mps or auto") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EarthmoverError(f"{said} but no CUDA device is available; use --device cpu or auto")
        count = torch.cuda.device_count()
        if device.index is None:
            return torch.device("cuda", (ctx.local_rank if ctx is not None else 0) % count)
        if device.index >= count:
            raise EarthmoverError(
                f"{said} but this machine has {count} CUDA device{'s' if count != 1 else ''} "
                f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''}); pick one of those or --device cpu"
            )
        return device
    if device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise EarthmoverError(f"{said} but MPS is not available; use --device cpu or auto")
        return device
    if device.type != "cpu":
        raise EarthmoverError(f"{said} is not supported; use cpu, cuda, cuda:N, mps or auto")
    return device


# ---------------------------------------------------------------------------------- input files


def not_numpy_reason(path: str | os.PathLike) -> str | None:
    """Why a .npy or .npz file cannot be a NumPy file, from its first bytes, or None when its header
    looks right. (numpy falls back to unpickling an unknown file and then calls any garbage
    "pickled (object) data": that names the wrong problem.)"""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(6)
    except OSError:
        return None
    suffix = path.suffix.lower()
    if suffix == ".npy" and not head.startswith(b"\x93NUMPY"):
        return (
            "not a NumPy file: it does not start with the .npy header (it may be truncated, empty or another "
            "format renamed); re-create it with numpy.save"
        )
    if suffix == ".npz" and not head.startswith(b"PK"):
        return (
            "not a NumPy file: an .npz is a zip archive and this is none (it may be truncated, empty or another "
            "format renamed); re-create it with numpy.savez"
        )
    return None
