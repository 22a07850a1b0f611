"""The WGAN paper, section 4.2 (Arjovsky, Chintala & Bottou 2017, Figures 3-4): the critic's
estimate of the Wasserstein distance tracks sample quality; a GAN discriminator's estimate of the
Jensen-Shannon divergence does not.

Along a training run we record, at regular checkpoints,

- the critic's estimate on fixed held-out batches: E C(x) - E C(G(z)) for WGAN-GP and WGAN
  (weight clipping; this estimates K W for an unknown K set by the clipping, which rank
  correlation does not mind), and for the minimax GAN the JS estimate its discriminator gives,
  log 2 + (E log sigma(D(x)) + E log(1 - sigma(D(G(z))))) / 2 (Goodfellow et al. 2014, Theorem 1:
  at the optimal discriminator this is JS(P_r, P_g));
- the quality of the samples (below, per half), lower is better;

and report Spearman's rank correlation between each estimate and that quality measure.

Two halves, each with the presets ``wgan-gp``, ``wgan`` and ``minimax`` (each paper's objective,
constraint, optimizer and n_critic) trained through :class:`earthmover.train.loop.Trainer`:

- **Toy** (the 8-gaussian ring; MLP width 64, depth 3, batch 256): quality is the exact earth
  mover's distance from generated samples to held-out data (:func:`earthmover.ot.emd_samples`),
  lower is better. Two departures from the presets, both because the papers ran 10^5 steps and we
  run 10^3: the critic's learning rate is raised to 1e-3 and the generator's set to 1e-4 for all
  three (with the presets' 1e-4 / 5e-5 the critic lags the generator and its estimate measures its
  own training, not the samples; with 1e-3 for both, WGAN-GP's Adam with beta1 = 0 oscillates).
- **Images** (MNIST, or any image source given as ``image_data``; the WGAN-GP paper's MNIST
  networks ``wgan-gp-mnist`` at width 32, batch 64): quality is the digit-classifier FID of
  generated samples against the test split (:mod:`earthmover.metrics`, ``features="digits"``; the
  training images for a source without one), lower is better. The presets' own learning rates, as
  in the paper: at image scale the critic does not lag.

In both, as in the WGAN authors' code, the critic first takes 100 steps alone (their
``Diters = 100`` for the first 25 generator iterations), so that the first checkpoints measure a
trained critic rather than one learning. Spearman's rank correlation (``scipy.stats.spearmanr``)
is +1 when the estimate falls exactly as the samples improve.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from earthmover.data.images import load_images
from earthmover.metrics.mixtures import mixture_measures
from earthmover.nets.critic_output import critic_scores
from earthmover.ot import emd_samples
from earthmover.plotting import save_figure
from earthmover.studies.common import Check, at_least, build_trainer
from earthmover.studies.registry import Study, register
from earthmover.train.loop import eval_mode

NAME = "critic-tracks-quality"
PAPER = "Arjovsky, Chintala & Bottou 2017, Wasserstein GAN, section 4.2 (Figures 3-4)"
CLAIM = (
    "Along a WGAN run the critic's estimate of the Wasserstein distance falls as the samples improve "
    "(a loss that means something), while a minimax GAN's discriminator-based JS estimate does not "
    "track sample quality."
)
PRESETS = ("wgan-gp", "wgan", "minimax")
RHO_BOUND = 0.7


TOY_QUALITY, IMAGE_QUALITY = "EMD to data", "digit-FID"


@dataclass
class Track:
    preset: str
    dataset: str
    estimate_name: str
    """"W estimate" or "JS estimate"."""
    quality_name: str
    """"EMD to data" (toy data) or "digit-FID" (images); lower is better for both."""
    steps: list[int]
    estimate: list[float]
    quality: list[float]
    """The quality measure at each checkpoint."""
    modes: list[int]
    """Modes covered at each checkpoint (mixtures of Gaussians; 0 elsewhere)."""
    spearman: float
    """Spearman rank correlation between estimate and quality (nan when either is constant)."""
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Half:
    """The settings one dataset's runs shared."""

    dataset: str
    quality_name: str
    steps: int
    every: int
    arch: str
    width: int
    batch_size: int
    n_eval: int
    lr_d: float | None
    """None: each preset's own."""
    lr_g: float | None
    warmup: int


@dataclass
class CriticTracksQualityResult:
    tracks: list[Track]
    halves: list[Half]
    quick: bool = False
    seed: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tracks"] = [t.to_dict() for t in self.tracks]
        return d

    def by_preset(self, dataset: str | None = None) -> dict[str, Track]:
        """The tracks of ``dataset`` (default: the first) by preset."""
        dataset = dataset or self.halves[0].dataset
        return {t.preset: t for t in self.tracks if t.dataset == dataset}

    def rows(self) -> tuple[list[str], list[list]]:
        header = ["data", "run", "estimate", "first", "last", "quality", "first", "last", "Spearman(estimate, quality)"]
        rows = [
            [
                _short(t.dataset),
                t.preset,
                t.estimate_name,
                t.estimate[0],
                t.estimate[-1],
                t.quality_name,
                t.quality[0],
                t.quality[-1],
                t.spearman,
            ]
            for t in self.tracks
        ]
        return header, rows

    def notes(self) -> list[str]:
        out = []
        for h in self.halves:
            rates = (
                "each preset's own learning rates"
                if h.lr_d is None
                else f"critic lr {h.lr_d:g}, generator lr {h.lr_g:g}"
            )
            out.append(
                f"{_short(h.dataset)}: {h.steps} generator steps, a checkpoint every {h.every}, {h.arch} width "
                f"{h.width}, batch {h.batch_size}, {rates}, {h.warmup} critic steps first; quality = "
                f"{h.quality_name} on {h.n_eval} samples."
            )
        if self.quick:
            out.append("--quick: short runs; the full version (benchmarks/studies.py --full) trains longer.")
        return out

    def summary(self) -> list[str]:
        return [
            f"{_short(t.dataset)} {t.preset}: rank correlation of the {t.estimate_name} with the {t.quality_name} "
            f"over {len(t.steps)} checkpoints: {t.spearman:.3f}"
            for t in self.tracks
        ]


def checks(result: CriticTracksQualityResult) -> list:
    out = []
    for h in result.halves:
        t, where = result.by_preset(h.dataset), _short(h.dataset)
        out += [
            at_least(f"{where} {p}: Spearman(W estimate, {h.quality_name})", _num(t[p].spearman), RHO_BOUND)
            for p in ("wgan-gp", "wgan")
            if p in t
        ]
        if "minimax" in t:
            rho = _num(t["minimax"].spearman)
            out.append(
                Check(
                    f"{where} minimax: Spearman(JS estimate, {h.quality_name})",
                    rho,
                    f"< {RHO_BOUND:.3g} (does not track)",
                    bool(rho < RHO_BOUND),
                )
            )
    return out


def _short(dataset: str) -> str:
    """A data source as a table shows it: a path by its file name."""
    return Path(dataset).name if ("/" in dataset or "\\" in dataset) else dataset


def _num(v: float) -> float:
    return -1.0 if math.isnan(v) else v  # a constant estimate tracks nothing


def _estimate(trainer, real, fake, wasserstein: bool) -> float:
    import torch.nn.functional as F

    with eval_mode(trainer.critic):
        d_real, d_fake = critic_scores(trainer.critic, real), critic_scores(trainer.critic, fake)
    if wasserstein:
        return float(d_real.mean() - d_fake.mean())
    return math.log(2.0) - 0.5 * float(F.softplus(-d_real).mean() + F.softplus(d_fake).mean())


def run(
    seed: int = 0,
    quick: bool = False,
    steps: int | None = None,
    every: int | None = None,
    width: int | None = None,
    dataset: str = "8gaussians",
    presets: tuple[str, ...] = PRESETS,
    n_eval: int | None = None,
    lr_d: float = 1e-3,
    lr_g: float = 1e-4,
    warmup: int = 100,
    image_data: str | None = "mnist",
    image_steps: int | None = None,
    image_every: int | None = None,
    image_width: int | None = None,
    image_n_eval: int | None = None,
    image_limit: int | None = None,
) -> CriticTracksQualityResult:
    """Toy half (``dataset``), full: 1200 generator steps, a checkpoint every 60, 1000 evaluation
    points; quick: 400 steps, every 40, 300 points; MLP width 64, depth 3, batch 256; Adam (RMSProp
    for wgan) lr 1e-3 for the critic, 1e-4 for the generator.
    Image half (``image_data``; None skips it), full: 600 generator steps, a checkpoint every 50, FID
    on 1000 samples, all the training images; quick: 100 steps, every 20, 300 samples, the first
    2000 images; wgan-gp-mnist width 32, batch 64, the presets' own learning rates.
    Both: ``warmup`` critic steps before the first generator step."""
    toy = Half(
        dataset=dataset,
        quality_name=TOY_QUALITY,
        steps=int(steps or (400 if quick else 1200)),
        every=int(every or (40 if quick else 60)),
        arch="mlp",
        width=int(width or 64),
        batch_size=256,
        n_eval=int(n_eval or (300 if quick else 1000)),
        lr_d=lr_d,
        lr_g=lr_g,
        warmup=int(warmup),
    )
    halves = [toy]
    if image_data:
        halves.append(
            Half(
                dataset=str(image_data),
                quality_name=IMAGE_QUALITY,
                steps=int(image_steps or (100 if quick else 600)),
                every=int(image_every or (20 if quick else 50)),
                arch="wgan-gp-mnist",
                width=int(image_width or 32),
                batch_size=64,
                n_eval=int(image_n_eval or (300 if quick else 1000)),
                lr_d=None,
                lr_g=None,
                warmup=int(warmup),
            )
        )
    limit = int(image_limit if image_limit is not None else (2000 if quick else 0))
    if image_data:  # find (or fetch) the images before the toy half trains: a missing file fails first
        load_images(str(image_data), limit=1)
    from tqdm.auto import tqdm

    tracks = []
    bar = tqdm(total=len(halves) * len(presets), desc=NAME, unit="run", disable=None, leave=False)
    for h in halves:
        for preset in presets:
            bar.set_postfix_str(f"{preset} on {_short(h.dataset)}")
            t = _track(preset, seed, h, limit)
            tracks.append(t)
            bar.update(1)
            bar.write(
                f"{NAME}: {preset} on {_short(h.dataset)}: Spearman({t.estimate_name}, {t.quality_name}) "
                f"{t.spearman:.3f}; {t.quality_name} {t.quality[0]:.3g} -> {t.quality[-1]:.3g} ({t.seconds:.0f} s)"
            )
    bar.close()
    return CriticTracksQualityResult(tracks=tracks, halves=halves, quick=bool(quick), seed=int(seed))


def _track(preset: str, seed: int, half: Half, limit: int) -> Track:
    """Train ``preset`` on ``half``'s data and record (estimate, quality) at its checkpoints."""
    from scipy.stats import spearmanr

    start = time.perf_counter()
    values = dict(
        data__name=half.dataset,
        data__batch_size=half.batch_size,
        model__arch=half.arch,
        model__width=half.width,
        model__ema=0.0,
    )
    if half.lr_d is not None:
        values.update(optim__lr_d=half.lr_d, optim__lr_g=half.lr_g)
    images = half.quality_name == IMAGE_QUALITY
    if images:
        values.update(data__limit=limit, run__eval_metrics="fid", run__eval_n=half.n_eval)
    else:
        values.update(model__depth=3)
    trainer = build_trainer(preset, seed, half.steps, **values)
    for _ in range(half.warmup):
        trainer.critic_step()
    wasserstein = trainer.objective.estimate_name == "wasserstein_estimate"
    real = trainer.stream.reference(half.n_eval, seed=int(seed) * 31 + 1)
    mixture = getattr(trainer.stream, "distribution", None)
    marks, est, quality, modes = [], [], [], []
    while trainer.step < half.steps:
        trainer.train_step()
        if trainer.step % half.every == 0 or trainer.step == half.steps:
            fake = trainer.sample(half.n_eval, seed=int(seed) * 31 + 2, use_ema=False)
            marks.append(trainer.step)
            est.append(_estimate(trainer, real, fake, wasserstein))
            if images:
                quality.append(float(trainer.evaluate_images()["metrics/fid"]))
            else:
                quality.append(emd_samples(fake, real))
            # hasattr(mixture, "centers") rules out None (the type: ignore below)
            modes.append(mixture_measures(fake, mixture).modes_covered if hasattr(mixture, "centers") else 0)  # type: ignore[arg-type]
    rho = float(spearmanr(est, quality).statistic) if len(set(est)) > 1 and len(set(quality)) > 1 else math.nan
    return Track(
        preset=preset,
        dataset=half.dataset,
        estimate_name="W estimate" if wasserstein else "JS estimate",
        quality_name=half.quality_name,
        steps=marks,
        estimate=est,
        quality=quality,
        modes=modes,
        spearman=rho,
        seconds=round(time.perf_counter() - start, 2),
    )


def draw(result: CriticTracksQualityResult, path: str | Path) -> Path:
    """One column per dataset; one panel per run with the estimate (left axis) and the quality
    measure (right axis) against generator steps, and a last panel of estimate against quality."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    halves = result.halves
    presets = list(dict.fromkeys(t.preset for t in result.tracks))
    rows, cols = len(presets) + 1, len(halves)
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 3.6 * rows), dpi=90, squeeze=False)
    colors = {"wgan-gp": "tab:blue", "wgan": "tab:green", "minimax": "tab:red"}
    for j, h in enumerate(halves):
        tracks = [t for t in result.tracks if t.dataset == h.dataset]
        for i, t in enumerate(tracks):
            ax, c = axes[i, j], colors.get(t.preset, "k")
            ax.plot(t.steps, t.estimate, "o-", ms=3, c=c, label=t.estimate_name)
            ax.set_xlabel("generator steps")
            ax.set_ylabel(t.estimate_name, color=c)
            ax2 = ax.twinx()
            ax2.plot(t.steps, t.quality, "s--", ms=3, c="0.3", label=t.quality_name)
            ax2.set_ylabel(f"{t.quality_name} (lower = better)", color="0.3")
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = ax2.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper right")
            ax.set_title(f"{_short(t.dataset)}, {t.preset}: Spearman = {t.spearman:.2f}", fontsize=10)
            ax.grid(alpha=0.3)
        for ax in axes[len(tracks) : rows - 1, j]:
            ax.axis("off")
        ax = axes[rows - 1, j]
        for t in tracks:
            e = np.asarray(t.estimate, dtype=float)
            span = e.max() - e.min()
            ax.plot(
                t.quality,
                (e - e.min()) / span if span > 0 else e * 0,
                "o",
                ms=4,
                c=colors.get(t.preset, "k"),
                label=f"{t.preset} ({t.estimate_name}), rho {t.spearman:.2f}",
            )
        ax.set_xlabel(h.quality_name)
        ax.set_ylabel("estimate, rescaled to [0, 1]")
        ax.set_title(f"{_short(h.dataset)}: estimate against sample quality", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(
        "Does the loss track quality? (WGAN paper, section 4.2) "
        + "; ".join(f"{_short(h.dataset)} {h.steps} steps" for h in halves),
        fontsize=11,
    )
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------- registration

TITLE = "A loss that means something: the critic's estimate tracks sample quality"
WHY = (
    "A practical payoff: the critic's estimate of W is a training curve you can read. As the samples get "
    "better the estimate falls, while the minimax discriminator's JS estimate says little about the "
    "samples. Measured here as the rank correlation between each estimate and the exact earth mover's "
    "distance from samples to held-out data on a mixture of Gaussians, and against the digit-classifier "
    "FID on MNIST, along real training runs."
)


register(Study(NAME, TITLE, CLAIM, PAPER, WHY, run, checks, draw))
