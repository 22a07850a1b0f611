"""The WGAN-GP paper's Figure 2 (Gulrajani et al. 2017), at MNIST scale: the non-saturating GAN
(DCGAN), LSGAN, WGAN with weight clipping and WGAN-GP, each with one set of hyperparameters (its
preset), across the architecture variants of Figure 2 (:mod:`earthmover.nets.registry`:
fig2-baseline, fig2-constant-filters, fig2-mlp-g, fig2-no-norm, fig2-gated, fig2-tanh,
fig2-resnet). The paper's finding: WGAN-GP trained every one of them, the others failed on some.

Each cell trains through :class:`earthmover.train.loop.Trainer` with the preset's objective,
penalty, constraint, optimizer and n_critic, one shared batch (64), width and step budget, the
critic normalized with layer norm where the architecture normalizes (batch norm and a gradient
penalty do not mix), and is scored with the digit-classifier FID (:mod:`earthmover.metrics`,
``features="digits"``) on samples against the MNIST test split (or, on another image source, the
training images). A cell "trains" when its FID is below ``fail_fid`` (20). Where 20 comes from: along
the WGAN-GP reference run of benchmarks/mnist.py (the paper's MNIST networks and settings; one digit
classifier judging 1000 samples every 150 s) all ten digits were present from digit-FID 21.6 down, and
only one or two of them at 70 and above (benchmarks/RESULTS.md, "MNIST"); below 20 a grid reads as
digits.

This is the most expensive study by far: the paper trained 200k steps per cell on GPUs; a CPU
budget affords hundreds (the full version, 600 steps per cell, took 88 minutes on one CPU
thread). ``--quick`` takes a subset of the architectures and tens of steps and
says so in its output; at that scale no cell draws digits and the verdict is a smoke test, not
a reproduction.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from earthmover.nets.registry import ARCHITECTURES
from earthmover.plotting import image_grid, save_figure
from earthmover.studies.common import Check, build_trainer
from earthmover.studies.registry import Study, register

NAME = "architecture-robustness"
PAPER = "Gulrajani et al. 2017, Improved Training of Wasserstein GANs, Figure 2 (section 5.2)"
CLAIM = (
    "With one set of hyperparameters, WGAN-GP trains every architecture variant of the paper's Figure 2, "
    "while the non-saturating GAN, LSGAN and WGAN with clipping each fail on some."
)
OBJECTIVES = ("dcgan", "lsgan", "wgan", "wgan-gp")
FIG2 = (
    "fig2-baseline",
    "fig2-constant-filters",
    "fig2-mlp-g",
    "fig2-no-norm",
    "fig2-gated",
    "fig2-tanh",
    "fig2-resnet",
)
QUICK_ARCHS = ("fig2-baseline", "fig2-tanh")


@dataclass
class Cell:
    preset: str
    arch: str
    fid: float
    seconds: float
    trains: bool

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ArchitectureRobustnessResult:
    cells: list[Cell]
    archs: list[str]
    missing_archs: list[str]
    """Figure 2 variants not (yet) in the architecture registry."""
    presets: list[str]
    data: str
    steps: int
    width: int
    batch_size: int
    eval_n: int
    fail_fid: float
    quick: bool
    seed: int = 0
    _samples: dict | None = None

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        d["cells"] = [c.to_dict() for c in self.cells]
        return d

    def cell(self, preset: str, arch: str) -> Cell | None:
        return next((c for c in self.cells if c.preset == preset and c.arch == arch), None)

    def get(self, preset: str, arch: str) -> Cell:
        """The cell of a preset and an architecture that ran (every pair of ``presets`` x ``archs``)."""
        c = self.cell(preset, arch)
        if c is None:
            raise KeyError(f"no cell for preset {preset!r} on {arch!r}")
        return c

    def rows(self) -> tuple[list[str], list[list]]:
        header = ["preset"] + self.archs
        return header, [[p, *(self.get(p, a).fid for a in self.archs)] for p in self.presets]

    def notes(self) -> list[str]:
        out = [
            f"Covered: {', '.join(self.archs)} x {', '.join(self.presets)}; data {self.data}, {self.steps} "
            f"generator steps per cell, batch {self.batch_size}, width {self.width}, digit-FID on {self.eval_n} "
            f"samples; a cell trains when its FID < {self.fail_fid:g}."
        ]
        if self.missing_archs:
            out.append(f"Not covered (not in the registry): {', '.join(self.missing_archs)}.")
        if self.quick:
            out.append(
                "--quick: a subset of the architectures and a few steps per cell; a smoke test of the "
                "study, not a reproduction of the figure."
            )
        return out

    def summary(self) -> list[str]:
        lines = list(self.notes())
        for p in self.presets:
            bad = [a for a in self.archs if not self.get(p, a).trains]
            lines.append(
                f"{p}: trains {len(self.archs) - len(bad)}/{len(self.archs)}"
                + (f" (fails on {', '.join(bad)})" if bad else "")
            )
        return lines


def checks(result: ArchitectureRobustnessResult) -> list:
    out = []
    gp = [result.cell("wgan-gp", a) for a in result.archs]
    if all(c is not None for c in gp):
        worst = max(c.fid for c in gp if c is not None)
        out.append(
            Check(
                "WGAN-GP: worst digit-FID over the architectures",
                worst,
                f"< {result.fail_fid:g} (trains all)",
                bool(worst < result.fail_fid),
            )
        )
    for p in result.presets:
        if p == "wgan-gp":
            continue
        cells = [result.get(p, a) for a in result.archs]
        worst = max(c.fid for c in cells)
        out.append(
            Check(
                f"{p}: worst digit-FID over the architectures",
                worst,
                f">= {result.fail_fid:g} (fails on some)",
                bool(worst >= result.fail_fid),
            )
        )
    return out


def _train_cell(preset: str, arch: str, seed: int, *, quick, data, steps, width, batch_size, eval_n, limit):
    """Train one preset with one architecture: (its digit-FID, 16 samples for the figure)."""
    values = dict(
        data__name=data,
        data__batch_size=batch_size,
        data__limit=limit,
        model__arch=arch,
        model__width=width,
        model__critic_norm="layer",
        model__ema=0.0,
        run__eval_metrics="fid",
        run__eval_n=eval_n,
    )
    if arch == "fig2-resnet":
        values["model__depth"] = 11 if quick else 20  # 101 layers is hours per cell on a CPU
    trainer = build_trainer(preset, seed, steps, **values)
    while trainer.step < steps:
        trainer.train_step()
    fid = float(trainer.evaluate_images().get("metrics/fid", math.nan))
    with torch.no_grad():
        return fid, trainer.sample(16, seed=seed + 5, use_ema=False)


def run(
    seed: int = 0,
    quick: bool = False,
    data: str = "mnist",
    archs: tuple[str, ...] | None = None,
    presets: tuple[str, ...] = OBJECTIVES,
    steps: int | None = None,
    width: int | None = None,
    batch_size: int = 64,
    eval_n: int | None = None,
    fail_fid: float = 20.0,
    limit: int | None = None,
) -> ArchitectureRobustnessResult:
    """Full: every Figure 2 variant in the registry, 600 generator steps, width 32, 1000 FID samples.
    Quick: fig2-baseline and fig2-tanh, 10 steps, width 8, 200 FID samples, the first 2000 images."""
    wanted = tuple(archs or (QUICK_ARCHS if quick else FIG2))
    covered = [a for a in wanted if a in ARCHITECTURES]
    missing = [a for a in (FIG2 if archs is None else wanted) if a not in ARCHITECTURES]
    steps = int(steps or (10 if quick else 600))
    width = int(width or (8 if quick else 32))
    eval_n = int(eval_n or (200 if quick else 1000))
    limit = int(limit if limit is not None else (2000 if quick else 0))
    cells, samples = [], {}
    bar = tqdm(total=len(covered) * len(presets), desc=NAME, unit="cell", disable=None, leave=False)
    for arch in covered:
        for preset in presets:
            bar.set_postfix_str(f"{preset} on {arch}")
            start = time.perf_counter()
            fid, samples[(preset, arch)] = _train_cell(
                preset,
                arch,
                int(seed),
                quick=quick,
                data=data,
                steps=steps,
                width=width,
                batch_size=batch_size,
                eval_n=eval_n,
                limit=limit,
            )
            cells.append(
                Cell(
                    preset=preset,
                    arch=arch,
                    fid=fid,
                    seconds=round(time.perf_counter() - start, 1),
                    trains=bool(fid < fail_fid),
                )
            )
            bar.update(1)
            bar.write(f"{NAME}: {preset} on {arch}: digit-FID {fid:.1f} ({cells[-1].seconds:.0f} s)")
    bar.close()
    return ArchitectureRobustnessResult(
        cells=cells,
        archs=covered,
        missing_archs=missing,
        presets=list(presets),
        data=data,
        steps=steps,
        width=width,
        batch_size=batch_size,
        eval_n=eval_n,
        fail_fid=fail_fid,
        quick=bool(quick),
        seed=int(seed),
        _samples=samples,
    )


def draw(result: ArchitectureRobustnessResult, path: str | Path) -> Path:
    """A 4x4 grid of samples per cell: rows = presets, columns = architectures, FID in each title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if result._samples is None:
        raise ValueError("draw needs the samples of a result returned by run() in this process")
    rows, cols = len(result.presets), max(1, len(result.archs))
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols + 0.6, 2.5 * rows + 0.6), dpi=90, squeeze=False)
    for i, p in enumerate(result.presets):
        for j, a in enumerate(result.archs):
            ax = axes[i, j]
            grid = image_grid(result._samples[(p, a)], nrow=4).permute(1, 2, 0).numpy()
            ax.imshow(grid[..., 0] if grid.shape[2] == 1 else grid, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            c = result.get(p, a)
            ax.set_title(f"FID {c.fid:.1f}", fontsize=9, color="k" if c.trains else "tab:red")
            if i == 0:
                ax.set_xlabel(a, fontsize=9)
                ax.xaxis.set_label_position("top")
            if j == 0:
                ax.set_ylabel(p, fontsize=10)
    scale = "quick subset" if result.quick else "full"
    fig.suptitle(
        f"Architecture robustness (WGAN-GP paper, Figure 2)\n{Path(result.data).name}, {result.steps} steps "
        f"per cell ({scale})\ndigit-FID; red = fails (>= {result.fail_fid:g})",
        fontsize=9,
    )
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------- registration

TITLE = "Robustness to the architecture (WGAN-GP paper, Figure 2), MNIST scale"
WHY = (
    "The WGAN-GP paper's strongest practical claim: with the gradient penalty one set of hyperparameters "
    "trains many architectures that break other GANs (no batch norm, tanh everywhere, a deep ResNet, "
    "...). Here at MNIST scale, scored with the digit-classifier FID."
)


register(Study(NAME, TITLE, CLAIM, PAPER, WHY, run, checks, draw))
