"""Figures: sample grids, samples over the critic's value surface, training curves (matplotlib, Agg)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def save_figure(fig, path: str | Path) -> Path:
    """Lay out, write (creating the folder) and close a figure; returns the path."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
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
        grid[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + col * (w + pad) : pad + col * (w + pad) + w] = images[i]
    return grid


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    grid = image_grid(images, nrow)
    array = grid.permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, array[..., 0] if array.shape[2] == 1 else array, cmap="gray" if array.shape[2] == 1 else None, vmin=0, vmax=1)
    return path


def toy_snapshot(
    real: torch.Tensor,
    fake: torch.Tensor,
    path: str | Path,
    critic_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    title: str = "",
    limits: float | None = None,
) -> Path:
    """Real (grey) and generated (orange) 2-D samples over contours of the critic's value."""
    real, fake = real.detach().cpu().numpy(), fake.detach().cpu().numpy()
    lim = limits or float(max(np.abs(real).max(), 1.0) * 1.25)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    if critic_fn is not None:
        side = np.linspace(-lim, lim, 120)
        xx, yy = np.meshgrid(side, side)
        grid = torch.tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=torch.float32)
        with torch.no_grad():
            values = critic_fn(grid).float().cpu().numpy().reshape(xx.shape)
        contour = ax.contourf(xx, yy, values, levels=20, cmap="viridis", alpha=0.6)
        fig.colorbar(contour, ax=ax, fraction=0.046, pad=0.04, label="critic value")
    ax.scatter(real[:, 0], real[:, 1], s=2, c="0.3", alpha=0.5, label="data")
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:orange", alpha=0.6, label="generated")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", markerscale=4, fontsize=8)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def figure_to_chw(path: str | Path) -> np.ndarray:
    """A saved PNG as a (C, H, W) float array, for TensorBoard."""
    return np.transpose(plt.imread(path)[..., :3], (2, 0, 1))


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
    fig, axes = plt.subplots(len(groups) or 1, 1, figsize=(7, 2.6 * max(1, len(groups))), dpi=100, squeeze=False)
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
