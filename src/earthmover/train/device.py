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


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 products natively (AVX512-BF16 or AMX tiles)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_amp(amp: str, device: torch.device, name: str = "run.amp") -> torch.dtype | None:
    """The autocast dtype for mixed precision `amp` (none | bf16 | fp16) on `device`, or None.

    CUDA takes both. On a CPU, bf16 needs native bfloat16 products (AVX512-BF16 or AMX): there it
    measured 1.5-1.7x faster on convolutional critics (benchmarks/RESULTS.md). Elsewhere it is refused
    rather than warned about: PyTorch would emulate bfloat16 at several times float32's cost, so the
    flag could only make a run slower and less precise. fp16 on a CPU is refused for the same reason
    (no native float16 products, and a GradScaler's skipped steps for nothing)."""
    if amp == "none":
        return None
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    if dtype is None:
        raise EarthmoverError(f"{name} = {amp!r} is not a precision; use none, bf16 or fp16")
    if device.type == "cuda":
        return dtype
    if device.type == "cpu" and amp == "bf16":
        if cpu_has_native_bf16():
            return dtype
        raise EarthmoverError(
            f"{name} = 'bf16' but this CPU has no native bfloat16 (AVX512-BF16 or AMX), where it would run "
            "slower than float32; use --run.amp none"
        )
    raise EarthmoverError(
        f"{name} = {amp!r} is not supported on {device.type}"
        f"{' (fp16 needs CUDA)' if device.type == 'cpu' else ''}; use --run.amp none"
        f"{' or bf16' if device.type == 'cpu' and cpu_has_native_bf16() else ''}"
    )
