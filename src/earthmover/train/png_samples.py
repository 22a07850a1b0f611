"""`earthmover sample --run DIR --n N --png-dir OUT`: a run's samples as N lossless 8-bit PNG files.

For other tools (torch-fidelity, clean-fid, pytorch-fid, a human). Pixels are quantized exactly as
earthmover's FID quantizes before its features (``round(255 * (x + 1) / 2)`` after clamping to [-1, 1],
see :func:`earthmover.metrics.inception.to_uint8_rgb`), so FID on the folder equals FID on the samples.
Files are named by index, and by label for a conditional run: ``000123.png`` or ``000123_label7.png``.
A conditional run's labels cycle through the classes (class-balanced) unless ``--label`` fixes one.

The files are written into a hidden temporary folder beside OUT, which is renamed to OUT at the end:
a failure (or Ctrl-C) leaves nothing behind, and an existing OUT is replaced only at that last step.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from earthmover.errors import EarthmoverError
from earthmover.paths import writable_dir

BATCH = 500


def check_png_dir(path: str | os.PathLike, n: int, overwrite: bool) -> Path:
    """Refuse, before any sampling, a bad N, a non-empty folder (unless ``overwrite``) or an unwritable place."""
    if n < 1:
        raise EarthmoverError(f"--n {n}: expected a positive number of PNG files, e.g. --n 10000")
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise EarthmoverError(f"--png-dir {str(out)!r} is a file; pass a folder path (it is created)")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise EarthmoverError(
            f"--png-dir {str(out)!r} is not empty; pick a new folder or pass --overwrite to replace its contents"
        )
    parent = out.parent
    if not parent.is_dir():
        raise EarthmoverError(
            f"--png-dir {str(out)!r}: the folder {str(parent)!r} does not exist; create it (mkdir -p {parent}) first"
        )
    if not os.access(parent, os.W_OK | os.X_OK) or not writable_dir(parent):  # /proc passes os.access for root
        raise EarthmoverError(f"--png-dir {str(out)!r}: {str(parent)!r} is not writable; pick a place you can write")
    return out


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] float NCHW -> uint8 NHWC, quantized as FID quantizes (channels kept: 1 stays grayscale)."""
    x = ((images.detach().to(torch.float32) + 1.0) / 2.0).clamp(0.0, 1.0)
    return (x * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def file_name(index: int, label: int | None, digits: int) -> str:
    return f"{index:0{digits}d}" + ("" if label is None else f"_label{label}") + ".png"


def class_labels(n: int, num_classes: int, label: int | None) -> torch.Tensor | None:
    """None for an unconditional run; else ``label`` repeated or the classes in turn."""
    if not num_classes:
        if label is not None:
            raise EarthmoverError("--label: this run's generator is not conditioned on labels; drop --label")
        return None
    if label is not None:
        return torch.full((n,), label, dtype=torch.long)
    return torch.arange(n) % num_classes


def write_pngs(
    sampler,
    out: Path,
    n: int,
    seed: int = 0,
    label: int | None = None,
    overwrite: bool = False,
    truncation: float | None = None,
) -> Path:
    """Draw ``n`` samples batch by batch and write them as PNGs to ``out`` (see the module docstring)."""
    labels = class_labels(n, getattr(sampler, "num_classes", 0) or 0, label)
    digits = max(6, len(str(n - 1)))
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        with tqdm(total=n, unit="png", desc=f"writing {out.name}", disable=None, leave=False, file=sys.stderr) as bar:
            for batch, start in enumerate(range(0, n, BATCH)):
                m = min(BATCH, n - start)
                part = None if labels is None else labels[start : start + m]
                x = sampler.sample(m, seed=seed * 1_000_003 + batch, truncation=truncation, labels=part)
                if x.ndim != 4 or x.shape[1] not in (1, 3):
                    raise EarthmoverError(
                        f"--png-dir: the run produces samples of shape {tuple(x.shape)}, not 1- or 3-channel "
                        "images; use --npz for toy points"
                    )
                for i, pixels in enumerate(to_uint8(x)):
                    lab = None if part is None else int(part[i])
                    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
                    image.save(tmp / file_name(start + i, lab, digits), format="PNG")
                bar.update(m)
        _replace(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _replace(tmp: Path, out: Path, overwrite: bool) -> None:
    """Move the finished folder into place; an old OUT is removed only once the new one is complete."""
    if out.is_dir():
        if any(out.iterdir()) and not overwrite:
            raise EarthmoverError(f"--png-dir {str(out)!r} filled up while sampling; pass --overwrite or a new folder")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)
