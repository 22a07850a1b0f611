"""Figures: sample grids, samples over the critic's value surface, training curves (matplotlib), and an
animated GIF of a run's snapshots (Pillow, which matplotlib depends on).

Figures are ``matplotlib.figure.Figure`` objects written with ``fig.savefig``, which renders through the Agg
canvas by itself: nothing here imports pyplot or selects a backend, so importing earthmover leaves a Jupyter
user's inline plots as they were."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.image
import numpy as np
import torch
from matplotlib.figure import Figure


def save_figure(fig, path: str | Path) -> Path:
    """Lay out and write a figure (creating the folder); returns the path."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def image_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2) -> torch.Tensor:
    """Images in [-1, 1], (N, C, H, W) -> one (C, H', W') grid in [0, 1]."""
    images = images.detach().float().cpu().clamp(-1, 1).add(1).div(2)
    n, c, h, w = images.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / nrow))
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + col * (w + pad) : pad + col * (w + pad) + w] = (
            images[i]
        )
    return grid


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, caption: str = "") -> Path:
    """A PNG of the grid of `images` (in [-1, 1], NCHW), one pixel per pixel; `caption`, when given,
    is written in a white band above it."""
    grid = image_grid(images, nrow)
    array = grid.permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    matplotlib.image.imsave(
        path,
        array[..., 0] if array.shape[2] == 1 else array,
        cmap="gray" if array.shape[2] == 1 else None,
        vmin=0,
        vmax=1,
    )
    if caption:
        from PIL import Image

        with Image.open(path) as im:
            captioned = _caption(im.convert("RGB"), caption)
        captioned.save(path)
    return path


SNAPSHOT_PATTERN = re.compile(r"^step_(\d+)\.png$")
"""The periodic snapshots of a run: ``samples/step_NNNNNNN.png`` (not ``final.png`` or ``sampled.png``)."""


def snapshot_files(folder: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every periodic snapshot in `folder`, by step."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := SNAPSHOT_PATTERN.match(p.name))]
    return sorted(found)


def save_gif(
    frames: Sequence[str | Path],
    path: str | Path,
    labels: Sequence[str] | None = None,
    seconds_per_frame: float = 0.5,
    hold_last: float = 2.0,
    max_frames: int = 300,
) -> Path:
    """An animated GIF (looping) of the PNG files `frames`, in order, one frame each; `labels`, when
    given, are written in a white band above each frame (e.g. "step 500"). All frames take the size
    of the first. Past `max_frames`, frames are taken evenly (the first and the last always), so a
    run with thousands of snapshots still gives a GIF one can open. Written atomically."""
    from PIL import Image

    if not frames:
        raise ValueError("save_gif: no frames")
    index = list(range(len(frames)))
    if len(index) > max_frames:
        index = sorted({round(i * (len(frames) - 1) / (max_frames - 1)) for i in range(max_frames)})
    images = []
    size = None
    for i in index:
        with Image.open(frames[i]) as im:
            frame = im.convert("RGB")
        if labels is not None:
            frame = _caption(frame, labels[i])
        if size is None:
            size = frame.size
        elif frame.size != size:
            frame = frame.resize(size)
        images.append(frame)
    durations = [round(1000 * seconds_per_frame)] * len(images)
    durations[-1] = round(1000 * max(hold_last, seconds_per_frame))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0, disposal=1)
    tmp.replace(path)
    return path


def _caption(image, text: str):
    """`image` (PIL, RGB) under a white band holding `text`."""
    from PIL import Image, ImageDraw

    band = 14
    width = ImageDraw.Draw(image).textlength(text) + 6
    if width > image.width:  # small images (8x8 digits): enlarge, pixels kept square, until the text fits
        factor = int(math.ceil(width / image.width))
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    out = Image.new("RGB", (image.width, image.height + band), "white")
    out.paste(image, (0, band))
    ImageDraw.Draw(out).text((3, 1), text, fill="black")
    return out


def snapshot_gif(folder: str | Path, path: str | Path | None = None, label_steps: bool = True) -> Path | None:
    """The GIF of every periodic snapshot in `folder` (``step_*.png``), one frame each, in step order,
    each frame headed "step N" (`label_steps`); written to `path` (default ``folder/training.gif``).
    None when there is no snapshot. It covers whatever snapshots are on disk, so a resumed run's GIF
    spans the sessions before it."""
    found = snapshot_files(folder)
    if not found:
        return None
    labels = [f"step {step}" for step, _ in found] if label_steps else None
    return save_gif([p for _, p in found], path or Path(folder) / "training.gif", labels=labels)


def toy_snapshot(
    real: torch.Tensor,
    fake: torch.Tensor,
    path: str | Path,
    critic_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    title: str = "",
    limits: float | None = None,
) -> Path:
    """Real (grey) and generated (orange) 2-D samples over contours of the critic's value."""
    points = real.detach().cpu().numpy(), fake.detach().cpu().numpy()
    lim = limits or float(max(np.abs(points[0]).max(), 1.0) * 1.25)
    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.subplots()
    if critic_fn is not None:
        side = np.linspace(-lim, lim, 120)
        xx, yy = np.meshgrid(side, side)
        grid = torch.tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=torch.float32)
        with torch.no_grad():
            values = critic_fn(grid).float().cpu().numpy().reshape(xx.shape)
        contour = ax.contourf(xx, yy, values, levels=20, cmap="viridis", alpha=0.6)
        fig.colorbar(contour, ax=ax, fraction=0.046, pad=0.04, label="critic value")
    ax.scatter(points[0][:, 0], points[0][:, 1], s=2, c="0.3", alpha=0.5, label="data")
    ax.scatter(points[1][:, 0], points[1][:, 1], s=2, c="tab:orange", alpha=0.6, label="generated")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", markerscale=4, fontsize=8)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def figure_to_chw(path: str | Path) -> np.ndarray:
    """A saved PNG as a (C, H, W) float array, for TensorBoard."""
    return np.transpose(matplotlib.image.imread(path)[..., :3], (2, 0, 1))


def training_curves(records: list[dict], path: str | Path, title: str = "") -> Path:
    """One panel per group: loss terms, the critic's Wasserstein estimate, gradient norms, metrics."""
    groups = {
        "losses": [k for k in _keys(records) if k.startswith("loss/")],
        "critic estimate of W (E D(x) - E D(G(z)))": [k for k in _keys(records) if k == "wasserstein_estimate"],
        "gradient norms": [k for k in _keys(records) if k.startswith("grad_norm/")],
    }
    # one panel per measure: their scales differ (modes out of 25, fractions, FID in the hundreds)
    for key in _keys(records):
        if key.startswith("metrics/") and not key.endswith("_std"):
            groups[key.split("/", 1)[1].replace("_", " ")] = [key]
    groups = {name: keys for name, keys in groups.items() if keys}
    fig = Figure(figsize=(7, 2.6 * max(1, len(groups))), dpi=100)
    axes = fig.subplots(len(groups) or 1, 1, squeeze=False)
    for ax, (name, keys) in zip(axes[:, 0], groups.items()):
        for key in keys:
            pts = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
            if pts:
                steps, values = zip(*pts)
                ax.plot(steps, values, label=key.split("/", 1)[-1], lw=1.2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("generator step", fontsize=8)
        ax.grid(alpha=0.3)
        if ax.lines:  # a measure logged only as inf/nan draws nothing
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def _keys(records: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for r in records:
        for k in r:
            if k != "step":
                seen.setdefault(k, None)
    return list(seen)
