"""WGAN-GP paper (Gulrajani et al. 2017), Figures 1 and 2, cheap version: weight clipping vs
gradient penalty for a critic trained towards optimality against a fixed "generator".

Claims:

- (Figure 1b, right) weight clipping pushes the critic's weights to the two ends of the
  clipping range [-c, c]; the gradient penalty leaves a spread-out distribution;
- (Figure 1a) the clipped critic is a simple, nearly flat function that misses the structure of
  the data, while the penalized critic's value surface follows it;
- the penalized critic has gradient norm near 1 at the interpolates between data and samples
  (the penalty's target), the clipped one far below 1: with c = 0.01 every linear layer's
  spectral norm is at most c * sqrt(fan_in * fan_out), so ||grad_x D|| <= prod_l c sqrt(in_l out_l)
  (0.02 for width 128, depth 3), whatever the training does.

Set-up: real = a fixed sample of a toy distribution; the "generator" is held fixed at the real
data plus Gaussian noise (std 0.5), as in the paper's Figure 1. Critic: MLP of depth 3,
width 128 (quick: 64), full-batch steps on the two fixed sets. (a) clipping c = 0.01, RMSProp
lr 5e-5 (WGAN defaults); (b) gradient penalty lambda = 10, Adam betas (0, 0.9) as in WGAN-GP but
lr 1e-3 rather than 1e-4, so that a thousand steps get the critic near its optimum. Both critics start from the same
initialization, except that the clipped critic's initial weights are scaled into [-c, c]
(each tensor divided by its largest magnitude and multiplied by c): PyTorch's default
initialization is wider than c = 0.01, so clamping it would put most weights at +-c before
any training (``init_clamped_fraction`` reports how many); the scaled start makes the pile-up at
+-c the work of training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from earthmover.data.toy import make_toy
from earthmover.losses import objectives
from earthmover.losses.constraints import clip_weights
from earthmover.losses.penalties import critic_input_gradient, gradient_penalty, interpolate, per_sample_norm
from earthmover.nets.critic_output import critic_scores
from earthmover.nets.mlp import MLPCritic
from earthmover.ot import emd_samples
from earthmover.plotting import save_figure
from earthmover.studies.common import at_least, at_most, seeded, within
from earthmover.studies.registry import Study, register

NAME = "clipping-vs-penalty"
PAPER = "Gulrajani et al. 2017, Improved Training of Wasserstein GANs, Figures 1-2"
CLAIM = (
    "Weight clipping, WGAN's way of keeping the critic Lipschitz, piles its weights at +-c and "
    "leaves it a nearly flat function; the gradient penalty keeps the critic's gradient near 1 and "
    "lets it follow the data."
)
METHODS = ("clipping", "penalty")
NEAR = 0.01
"""A weight is "at the bound" when |w| >= (1 - NEAR) * bound."""


@dataclass
class DatasetOutcome:
    dataset: str
    steps: list[int]
    """Training steps at which the gradient norm was tracked."""
    grad_norm_track: dict[str, list[float]]
    """Per method, the mean ||grad_x D|| at the (fixed) interpolates at each tracked step."""
    grad_norm_mean: dict[str, float]
    """Per method, the mean ||grad_x D|| at the interpolates after training."""
    grad_norm_std: dict[str, float]
    at_bounds: dict[str, float]
    """Per method, the fraction of parameters within 1% of +-bound, the bound being c for
    clipping and the critic's own largest |w| for the penalty."""
    init_at_bounds: float
    """The same fraction for the clipped critic at its (scaled) initialization."""
    init_clamped_fraction: float
    """The fraction of parameters that clamping the *default* initialization would put at +-c."""
    critic_gap: dict[str, float]
    """Per method, E D(x) - E D(x~) on the training sets."""
    lipschitz_estimate: dict[str, float]
    """Per method, max ||grad_x D|| over the data, the samples and the interpolates."""
    scaled_gap: dict[str, float]
    """critic_gap / lipschitz_estimate: the part of W that the critic, rescaled to be about
    1-Lipschitz, accounts for (compare with w_exact)."""
    w_exact: float
    """The exact earth mover's distance between the two sets."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ClippingVsPenaltyResult:
    outcomes: list[DatasetOutcome]
    c: float
    gp_weight: float
    width: int
    depth: int
    n: int
    seed: int = 0
    gradient_bound_clipping: float = 0.0
    """prod over layers of c sqrt(fan_in fan_out): an upper bound on ||grad_x D|| for clipping."""
    _critics: dict | None = None
    _data: dict | None = None

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        d["outcomes"] = [o.to_dict() for o in self.outcomes]
        return d

    def rows(self) -> tuple[list[str], list[list]]:
        header = [
            "dataset",
            "method",
            "at +-bound",
            "mean |grad D|",
            "std",
            "critic gap",
            "gap / max|grad D|",
            "exact W",
        ]
        rows = []
        for o in self.outcomes:
            for m in METHODS:
                rows.append(
                    [
                        o.dataset,
                        m,
                        o.at_bounds[m],
                        o.grad_norm_mean[m],
                        o.grad_norm_std[m],
                        o.critic_gap[m],
                        o.scaled_gap[m],
                        o.w_exact,
                    ]
                )
        return header, rows

    def summary(self) -> list[str]:
        lines = []
        for o in self.outcomes:
            lines.append(
                f"{o.dataset}: clipping puts {100 * o.at_bounds['clipping']:.1f}% of weights within 1% of +-c "
                f"(from {100 * o.init_at_bounds:.1f}% at its start; clamping the default init would give "
                f"{100 * o.init_clamped_fraction:.1f}%), penalty {100 * o.at_bounds['penalty']:.1f}% within 1% of "
                f"its own +-max|w|; mean |grad D| at interpolates: clipping {o.grad_norm_mean['clipping']:.3g}, "
                f"penalty {o.grad_norm_mean['penalty']:.3g}"
            )
        lines.append(f"bound on |grad D| for any clipped critic of this shape: {self.gradient_bound_clipping:.3g}")
        return lines


def checks(result: ClippingVsPenaltyResult) -> list:
    out = []
    for o in result.outcomes:
        out.append(at_least(f"{o.dataset}: clipped weights within 1% of +-c", o.at_bounds["clipping"], 0.15))
        out.append(at_most(f"{o.dataset}: penalized weights within 1% of their +-max", o.at_bounds["penalty"], 0.01))
        out.append(
            at_most(
                f"{o.dataset}: clipped critic's mean gradient norm at interpolates", o.grad_norm_mean["clipping"], 0.01
            )
        )
        out.append(
            within(
                f"{o.dataset}: penalized critic's mean gradient norm at interpolates",
                o.grad_norm_mean["penalty"],
                1.0,
                0.2,
            )
        )
    return out


def _params(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def fraction_at_bounds(values: torch.Tensor, bound: float, near: float = NEAR) -> float:
    """The fraction of entries with |v| >= (1 - near) * bound."""
    return float((values.abs() >= (1.0 - near) * bound).float().mean())


def clipping_gradient_bound(in_dim: int, width: int, depth: int, c: float) -> float:
    """prod_l c sqrt(in_l out_l): each clipped layer's spectral norm is at most its Frobenius norm
    c sqrt(in out), and ReLU is 1-Lipschitz, so ||grad_x D|| is at most this product."""
    dims = [in_dim] + [width] * depth + [1]
    bound = 1.0
    for a, b in zip(dims[:-1], dims[1:]):
        bound *= c * (a * b) ** 0.5
    return bound


def _interpolate_norms(critic, real, fake, seed: int) -> torch.Tensor:
    x_hat = interpolate(real, fake, torch.Generator().manual_seed(seed))
    return per_sample_norm(critic_input_gradient(critic, x_hat, create_graph=False))


def _lipschitz_estimate(critic, real, fake, interpolate_norms) -> float:
    on_sets = per_sample_norm(critic_input_gradient(critic, torch.cat([real, fake]), create_graph=False))
    return float(torch.cat([on_sets, interpolate_norms]).max())


def _train_pair(real, fake, *, seed, steps, width, depth, c, gp_weight, track_every, clip_lr, gp_lr):
    with seeded(seed):
        clipped = MLPCritic(in_dim=2, width=width, depth=depth)
        penalized = MLPCritic(in_dim=2, width=width, depth=depth)
    penalized.load_state_dict(clipped.state_dict())
    init_clamped = fraction_at_bounds(_params(clipped).clamp(-c, c), c)
    with torch.no_grad():
        for p in clipped.parameters():
            p.mul_(c / p.abs().max().clamp(min=1e-12))
    init_at_bounds = fraction_at_bounds(_params(clipped), c)
    opt_clip = torch.optim.RMSprop(clipped.parameters(), lr=clip_lr)
    opt_gp = torch.optim.Adam(penalized.parameters(), lr=gp_lr, betas=(0.0, 0.9))
    rng = torch.Generator().manual_seed(seed + 1)
    tracked_steps, track = [], {m: [] for m in METHODS}
    for step in range(1, steps + 1):
        loss = objectives.wasserstein_critic_loss(critic_scores(clipped, real), critic_scores(clipped, fake))
        opt_clip.zero_grad(set_to_none=True)
        loss.backward()
        opt_clip.step()
        clip_weights(clipped, c)  # after the step, as in WGAN
        loss = objectives.wasserstein_critic_loss(critic_scores(penalized, real), critic_scores(penalized, fake))
        loss = loss + gradient_penalty(penalized, real, fake, weight=gp_weight, generator=rng)
        opt_gp.zero_grad(set_to_none=True)
        loss.backward()
        opt_gp.step()
        if step % track_every == 0 or step == steps:
            tracked_steps.append(step)
            for m, net in zip(METHODS, (clipped, penalized)):
                track[m].append(float(_interpolate_norms(net, real, fake, seed + 2).mean()))
    return {"clipping": clipped, "penalty": penalized}, tracked_steps, track, init_at_bounds, init_clamped


def _outcome(name: str, real, fake, trained: tuple, s: int, c: float) -> tuple[DatasetOutcome, dict]:
    """The numbers of one dataset's trained pair of critics (`trained` as :func:`_train_pair` returns it),
    and each critic's gradient norms at the interpolates (for the figure)."""
    nets, tracked_steps, track, init_at, init_clamped = trained
    norms = {m: _interpolate_norms(nets[m], real, fake, s + 2) for m in METHODS}
    with torch.no_grad():
        gap = {m: float(critic_scores(nets[m], real).mean() - critic_scores(nets[m], fake).mean()) for m in METHODS}
    lip = {m: _lipschitz_estimate(nets[m], real, fake, norms[m]) for m in METHODS}
    gp_params = _params(nets["penalty"])
    outcome = DatasetOutcome(
        dataset=name,
        steps=tracked_steps,
        grad_norm_track=track,
        grad_norm_mean={m: float(norms[m].mean()) for m in METHODS},
        grad_norm_std={m: float(norms[m].std()) for m in METHODS},
        at_bounds={
            "clipping": fraction_at_bounds(_params(nets["clipping"]), c),
            "penalty": fraction_at_bounds(gp_params, float(gp_params.abs().max())),
        },
        init_at_bounds=init_at,
        init_clamped_fraction=init_clamped,
        critic_gap=gap,
        lipschitz_estimate=lip,
        scaled_gap={m: gap[m] / lip[m] if lip[m] > 0 else 0.0 for m in METHODS},
        w_exact=emd_samples(real, fake),
    )
    return outcome, norms


def run(
    seed: int = 0,
    quick: bool = False,
    datasets: list[str] | None = None,
    steps: int | None = None,
    width: int | None = None,
    depth: int = 3,
    n: int | None = None,
    c: float = 0.01,
    gp_weight: float = 10.0,
    noise: float = 0.5,
    clip_lr: float = 5e-5,
    gp_lr: float = 1e-3,
) -> ClippingVsPenaltyResult:
    """Full: 8gaussians, 25gaussians, swissroll; 1000 full-batch critic steps; width 128; 256 points per set.
    Quick: 8gaussians; 300 steps; width 64; 128 points."""
    datasets = list(datasets or (["8gaussians"] if quick else ["8gaussians", "25gaussians", "swissroll"]))
    steps = int(steps or (300 if quick else 1000))
    width = int(width or (64 if quick else 128))
    n = int(n or (128 if quick else 256))
    outcomes, critics, data = [], {}, {}
    for k, name in enumerate(datasets):
        rng = torch.Generator().manual_seed(int(seed) * 100 + k)
        toy = make_toy(name)
        real = toy.sample(n, rng)
        fake = toy.sample(n, rng) + noise * torch.randn(n, 2, generator=rng)
        trained = _train_pair(
            real,
            fake,
            seed=int(seed) * 100 + k,
            steps=steps,
            width=width,
            depth=depth,
            c=c,
            gp_weight=gp_weight,
            track_every=max(1, steps // 10),
            clip_lr=clip_lr,
            gp_lr=gp_lr,
        )
        outcome, norms = _outcome(name, real, fake, trained, int(seed) * 100 + k, c)
        outcomes.append(outcome)
        critics[name] = trained[0]
        data[name] = (real, fake, norms)
    return ClippingVsPenaltyResult(
        outcomes=outcomes,
        c=c,
        gp_weight=gp_weight,
        width=width,
        depth=depth,
        n=n,
        seed=seed,
        gradient_bound_clipping=clipping_gradient_bound(2, width, depth, c),
        _critics=critics,
        _data=data,
    )


def draw(result: ClippingVsPenaltyResult, path: str | Path) -> Path:
    """One row per dataset: the clipped and the penalized critic's value surface over the data
    (grey) and the fixed samples (orange), and the histogram of ||grad_x D|| at the interpolates.
    Last row: the weight histograms of the first dataset's critics, and the gradient norm at the
    interpolates during training."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if result._critics is None or result._data is None:
        raise ValueError("draw needs the critics of a result returned by run() in this process")
    rows = len(result.outcomes) + 1
    fig, axes = plt.subplots(rows, 3, figsize=(13, 4.0 * rows), dpi=90, squeeze=False)
    colors = {"clipping": "tab:red", "penalty": "tab:blue"}
    for r, o in enumerate(result.outcomes):
        _draw_dataset_row(fig, axes[r], o, result, result._critics[o.dataset], result._data[o.dataset], colors)
    _draw_weights_row(axes[-1], result, result._critics, colors)
    fig.suptitle(
        "Weight clipping vs gradient penalty (WGAN-GP paper, Figures 1-2), critic trained on fixed sets", fontsize=11
    )
    return save_figure(fig, path)


def _draw_dataset_row(fig, axes, o, result: ClippingVsPenaltyResult, critics: dict, data: tuple, colors: dict) -> None:
    """One dataset: both critics' value surfaces and the histogram of their gradient norms at the interpolates."""
    real, fake, norms = data
    lim = float(max(real.abs().max(), 1.0) * 1.3)
    side = np.linspace(-lim, lim, 100)
    xx, yy = np.meshgrid(side, side)
    grid = torch.tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=torch.float32)
    for col, m in enumerate(METHODS):
        ax = axes[col]
        with torch.no_grad():
            values = critic_scores(critics[m], grid).numpy().reshape(xx.shape)
        cs = ax.contourf(xx, yy, values, levels=20, cmap="viridis", alpha=0.75)
        fig.colorbar(cs, ax=ax, fraction=0.046, pad=0.04)
        ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:orange", alpha=0.4)
        ax.scatter(real[:, 0], real[:, 1], s=2, c="white", alpha=0.8)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        what = f"c = {result.c}" if m == "clipping" else f"lambda = {result.gp_weight:g}"
        ax.set_title(
            f"{o.dataset}: {m} ({what})\ngap / max|grad D| = {o.scaled_gap[m]:.3g} (exact W {o.w_exact:.3g})",
            fontsize=9,
        )
    ax = axes[2]
    for m in METHODS:
        v = norms[m].numpy()
        ax.hist(np.log10(v), bins=40, color=colors[m], alpha=0.6, label=f"{m}: mean {v.mean():.3g}")
    ax.axvline(0.0, c="k", lw=0.8, ls=":")
    ax.set_xlabel("log10 ||grad_x D|| at interpolates")
    ax.set_title(f"{o.dataset}: critic gradient norm at interpolates", fontsize=9)
    ax.legend(fontsize=8)


def _draw_weights_row(axes, result: ClippingVsPenaltyResult, critics: dict, colors: dict) -> None:
    """The first dataset's critic weight histograms and the gradient norm at the interpolates during training."""
    first = result.outcomes[0]
    for col, m in enumerate(METHODS):
        ax = axes[col]
        w = _params(critics[first.dataset][m]).numpy()
        ax.hist(w, bins=60, color=colors[m], alpha=0.8)
        ax.set_yscale("log")
        if m == "clipping":
            for b in (-result.c, result.c):
                ax.axvline(b, c="k", lw=0.8, ls=":")
            label = f"{100 * first.at_bounds[m]:.1f}% within 1% of +-c (start {100 * first.init_at_bounds:.1f}%)"
        else:
            label = f"{100 * first.at_bounds[m]:.1f}% within 1% of +-max|w|"
        ax.set_title(f"{first.dataset}: {m} critic weights\n{label}", fontsize=9)
        ax.set_xlabel("weight value")
    ax = axes[2]
    for m in METHODS:
        ax.plot(first.steps, first.grad_norm_track[m], "o-", c=colors[m], label=m)
    ax.axhline(
        result.gradient_bound_clipping,
        c="tab:red",
        lw=0.8,
        ls="--",
        label=f"bound for clipping {result.gradient_bound_clipping:.2g}",
    )
    ax.set_yscale("log")
    ax.set_xlabel("critic steps")
    ax.set_title(f"{first.dataset}: mean ||grad_x D|| at interpolates", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


# ---------------------------------------------------------------------------------- registration

TITLE = "Keeping the critic 1-Lipschitz: weight clipping vs the gradient penalty"
WHY = (
    "The critic must stay (near) 1-Lipschitz. The WGAN paper clips every weight to [-c, c]; the WGAN-GP "
    "paper shows what that costs: the weights pile up at +-c and the critic becomes a nearly flat, simple"
    " function whose gradient is tiny, while penalizing the gradient norm towards 1 at points between "
    "real and fake keeps the critic's gradient near 1 and lets it follow the data."
)


register(Study(NAME, TITLE, CLAIM, PAPER, WHY, run, checks, draw))
