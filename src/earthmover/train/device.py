"""The torch device of a run or a command: one check for ``train``, ``fid``, ``eval`` and ``sample``."""

from __future__ import annotations

import torch

from earthmover.errors import EarthmoverError


def resolve_device(kind: str, ctx=None, name: str = "run.device"):
    """The torch device for `kind` (auto, cpu, cuda, cuda:N, mps); a missing device is one line
    naming `name` (the config field or the flag) and the fix. Under torchrun (`ctx`), plain "cuda"
    means this process's local GPU."""
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
