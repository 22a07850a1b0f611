"""The WGAN paper's Figure 2 (Arjovsky, Chintala & Bottou 2017): a trained minimax discriminator
saturates and gives the generated points no gradient; a WGAN critic gives them a clean one.

When the real and generated sets are disjoint (the usual case: both live on thin manifolds), a
discriminator trained towards optimality becomes a step: sigma(D) ~ 1 on the data and ~ 0 on
the fakes, flat on both. The saturating generator cost log(1 - sigma(D(x))) then has gradient
-sigma(D(x)) grad D(x) -> 0 at the fakes. A critic held near 1-Lipschitz and trained to maximize
E C(x) - E C(G(z)) becomes instead the Kantorovich potential: a slope of norm ~1 from the fakes
towards the data, whatever the distance between them.

Set-up: fixed, disjoint real and generated sets (1-D: N(+0.75, 0.15^2) against N(-0.75, 0.15^2);
2-D: the 8-gaussian ring against the same ring scaled by 1.6, outside it). Both networks are the
same MLP (width 64, depth 3, layer normalization) from the same initialization, trained full
batch: the discriminator with the minimax loss (Adam 1e-3, quick 3e-3, betas (0.5, 0.999)), the
critic with the Wasserstein loss and the gradient penalty (lambda 10, Adam 1e-3, betas (0.5, 0.9)).

Two choices are measured, not taken on faith. Without layer normalization the 1-D critic of
width 64 sometimes ends with every ReLU off around the fakes (seed 3: gradient 0.005 after 400
steps) and needs thousands of steps to recover; with it, seeds 0-7 all end within 0.12 of 1.
And the penalty is soft: the critic's slope settles where the gain in E C(x) - E C(x~), about
W (s - 1), meets the penalty lambda (s - 1)^2, at s ~ 1 + W / (2 lambda); the sets are placed so
that W ~ 1-1.5 (s ~ 1.05-1.08): at W = 4 the same critic's slope is ~1.2. At the fakes we measure the norm
of the gradient that each generator cost passes to the points: ||d/dx log(1 - sigma(D(x)))||
(saturating minimax), ||d/dx -log sigma(D(x))|| (the non-saturating fix, for reference) and
||d/dx C(x)|| (Wasserstein).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from earthmover.data.toy import eight_gaussians
from earthmover.losses.penalties import per_sample_norm
from earthmover.nets.critic_output import critic_scores
from earthmover.nets.mlp import MLPCritic
from earthmover.ot import emd_samples
from earthmover.plotting import save_figure
from earthmover.studies.common import at_most, seeded, step_discriminator_and_critic, within
from earthmover.studies.registry import Study, register

NAME = "critic-vs-discriminator"
PAPER = "Arjovsky, Chintala & Bottou 2017, Wasserstein GAN, Figure 2"
CLAIM = (
    "On disjoint real and generated data, a trained minimax discriminator saturates and passes the "
    "generated points a vanishing gradient, while a (gradient-penalized) WGAN critic passes them a "
    "gradient of norm about 1."
)
DISC_BOUND = 1e-2
CRITIC_TOL = 0.2


@dataclass
class Setting:
    name: str
    """"1-D" or "2-D"."""
    steps: int
    disc_accuracy: float
    """Fraction of both sets on the right side of D = 0."""
    mean_sigma_fake: float
    """Mean sigma(D(x~)) over the fakes."""
    saturating_grad: float
    """Mean over the fakes of ||d/dx log(1 - sigma(D(x)))|| (what the minimax generator receives)."""
    saturating_grad_max: float
    non_saturating_grad: float
    """Mean over the fakes of ||d/dx -log sigma(D(x))||."""
    critic_grad: float
    """Mean over the fakes of ||d/dx C(x)|| (what the WGAN generator receives)."""
    critic_grad_std: float
    critic_gap: float
    """E C(x) - E C(x~) on the two sets."""
    w_exact: float
    """The exact earth mover's distance between the two sets."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CriticVsDiscriminatorResult:
    settings: list[Setting]
    width: int
    depth: int
    n: int
    disc_lr: float
    seed: int = 0
    _nets: dict | None = None
    _data: dict | None = None

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        d["settings"] = [s.to_dict() for s in self.settings]
        return d

    def rows(self) -> tuple[list[str], list[list]]:
        header = [
            "data",
            "D accuracy",
            "mean sigma(D(fake))",
            "|grad| saturating",
            "|grad| non-saturating",
            "|grad| critic",
            "critic gap",
            "exact W",
        ]
        rows = [
            [
                s.name,
                s.disc_accuracy,
                s.mean_sigma_fake,
                s.saturating_grad,
                s.non_saturating_grad,
                s.critic_grad,
                s.critic_gap,
                s.w_exact,
            ]
            for s in self.settings
        ]
        return header, rows

    def summary(self) -> list[str]:
        return [
            f"{s.name}: at the fakes the saturating discriminator cost passes a gradient of norm "
            f"{s.saturating_grad:.3g} (max {s.saturating_grad_max:.3g}); the WGAN-GP critic {s.critic_grad:.3g} "
            f"+- {s.critic_grad_std:.2g}"
            for s in self.settings
        ]


def checks(result: CriticVsDiscriminatorResult) -> list:
    out = []
    for s in result.settings:
        out.append(
            at_most(
                f"{s.name}: discriminator's gradient at the fakes (saturating cost, mean norm)",
                s.saturating_grad,
                DISC_BOUND,
            )
        )
        out.append(within(f"{s.name}: critic's gradient at the fakes (mean norm)", s.critic_grad, 1.0, CRITIC_TOL))
    return out


def _data(name: str, n: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if name == "1-D":
        real = 0.75 + 0.15 * torch.randn(n, 1, generator=rng)
        fake = -0.75 + 0.15 * torch.randn(n, 1, generator=rng)
        return real, fake
    mix = eight_gaussians()
    real = mix.sample(n, rng)
    fake = 1.6 * mix.sample(n, rng)
    return real, fake


def _point_grads(net, x: torch.Tensor, fn) -> torch.Tensor:
    """Per-point ||d fn(score(x)) / dx||."""
    x = x.detach().clone().requires_grad_(True)
    out = fn(critic_scores(net, x))
    (grad,) = torch.autograd.grad(out.sum(), x)
    return per_sample_norm(grad, eps=0.0)


def _train(real, fake, *, seed, steps, width, depth, gp_weight, disc_lr):
    dim = real.shape[1]
    with seeded(seed):
        disc = MLPCritic(in_dim=dim, width=width, depth=depth, norm="layer")
        critic = MLPCritic(in_dim=dim, width=width, depth=depth, norm="layer")
    critic.load_state_dict(disc.state_dict())
    opt_d = torch.optim.Adam(disc.parameters(), lr=disc_lr, betas=(0.5, 0.999))
    opt_c = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
    rng = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        step_discriminator_and_critic(disc, critic, opt_d, opt_c, real, fake, gp_weight=gp_weight, generator=rng)
    return disc, critic


def run(
    seed: int = 0,
    quick: bool = False,
    steps: int | None = None,
    n: int | None = None,
    width: int = 64,
    depth: int = 3,
    gp_weight: float = 10.0,
    disc_lr: float | None = None,
) -> CriticVsDiscriminatorResult:
    """Full: 2000 full-batch steps on 512 points per set, discriminator lr 1e-3. Quick: 400 steps on
    128 points, discriminator lr 3e-3 (it saturates sooner)."""
    steps = int(steps or (400 if quick else 2000))
    n = int(n or (128 if quick else 512))
    disc_lr = float(disc_lr or (3e-3 if quick else 1e-3))
    settings, nets, data = [], {}, {}
    for k, name in enumerate(("1-D", "2-D")):
        s = int(seed) * 100 + k
        rng = torch.Generator().manual_seed(s)
        real, fake = _data(name, n, rng)
        disc, critic = _train(
            real, fake, seed=s, steps=steps, width=width, depth=depth, gp_weight=gp_weight, disc_lr=disc_lr
        )
        with torch.no_grad():
            d_real, d_fake = critic_scores(disc, real), critic_scores(disc, fake)
            c_gap = float(critic_scores(critic, real).mean() - critic_scores(critic, fake).mean())
        sat = _point_grads(disc, fake, lambda t: -F.softplus(t))  # log(1 - sigma(t)) = -softplus(t)
        non_sat = _point_grads(disc, fake, lambda t: F.softplus(-t))  # -log sigma(t) = softplus(-t)
        crit = _point_grads(critic, fake, lambda t: t)
        settings.append(
            Setting(
                name=name,
                steps=steps,
                disc_accuracy=0.5 * float((d_real > 0).float().mean() + (d_fake < 0).float().mean()),
                mean_sigma_fake=float(torch.sigmoid(d_fake).mean()),
                saturating_grad=float(sat.mean()),
                saturating_grad_max=float(sat.max()),
                non_saturating_grad=float(non_sat.mean()),
                critic_grad=float(crit.mean()),
                critic_grad_std=float(crit.std()),
                critic_gap=c_gap,
                w_exact=emd_samples(real, fake),
            )
        )
        nets[name] = (disc, critic)
        data[name] = (real, fake)
    return CriticVsDiscriminatorResult(
        settings=settings, width=width, depth=depth, n=n, disc_lr=disc_lr, seed=int(seed), _nets=nets, _data=data
    )


def draw(result: CriticVsDiscriminatorResult, path: str | Path) -> Path:
    """Top: 1-D, sigma(D) and C over x with the two sets, and the gradient norm each passes to a point
    at x. Bottom: 2-D, sigma(D) and C over the plane with -grad arrows at the fakes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if result._nets is None or result._data is None:
        raise ValueError("draw needs the networks of a result returned by run() in this process")
    fig, axes = plt.subplots(2, 3, figsize=(15, 9), dpi=90)
    by_name = {s.name: s for s in result.settings}
    _draw_1d(axes[0], result._nets["1-D"], result._data["1-D"], by_name["1-D"])
    _draw_bars(axes[0, 2], result)
    _draw_2d(fig, axes[1], result._nets["2-D"], result._data["2-D"], by_name["2-D"])
    fig.suptitle(
        "Discriminator vs critic on disjoint data (WGAN paper, Figure 2): the discriminator saturates, "
        "the critic keeps a slope",
        fontsize=11,
    )
    return save_figure(fig, path)


def _draw_1d(axes, nets: tuple, data: tuple, s: Setting) -> None:
    """The 1-D setting: the two functions over x with the two sets, and the gradient each passes to x."""
    disc, critic = nets
    real, fake = data
    xs = torch.linspace(-4, 4, 801)[:, None]
    with torch.no_grad():
        sig = torch.sigmoid(critic_scores(disc, xs)).numpy()
        cv = critic_scores(critic, xs).numpy()
    ax = axes[0]
    ax.hist(real[:, 0].numpy(), bins=30, density=True, color="0.6", alpha=0.6, label="real")
    ax.hist(fake[:, 0].numpy(), bins=30, density=True, color="tab:orange", alpha=0.6, label="generated")
    ax.plot(xs[:, 0], sig, c="tab:red", lw=2, label="minimax discriminator sigma(D(x))")
    ax2 = ax.twinx()
    ax2.plot(xs[:, 0], cv, c="tab:blue", lw=2, label="WGAN-GP critic C(x)")
    ax2.set_ylabel("critic value", color="tab:blue")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    ax.set_xlabel("x")
    ax.set_title("1-D: the discriminator is a step, the critic a slope", fontsize=10)

    ax = axes[1]
    sat = _point_grads(disc, xs, lambda t: -F.softplus(t)).numpy()
    crit = _point_grads(critic, xs, lambda t: t).numpy()
    ax.semilogy(xs[:, 0], np.maximum(sat, 1e-30), c="tab:red", lw=2, label="|d/dx log(1 - sigma(D))| (minimax)")
    ax.semilogy(xs[:, 0], np.maximum(crit, 1e-30), c="tab:blue", lw=2, label="|d/dx C| (WGAN-GP)")
    ax.axvspan(float(fake.min()), float(fake.max()), color="tab:orange", alpha=0.15, label="generated points")
    ax.axhline(DISC_BOUND, c="k", ls=":", lw=0.8)
    ax.set_ylim(1e-8, 10)
    ax.set_xlabel("x")
    ax.set_title(
        f"1-D: gradient passed to a point at x\nat the fakes: minimax {s.saturating_grad:.2g}, "
        f"critic {s.critic_grad:.3g}",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="lower right")


def _draw_bars(ax, result: CriticVsDiscriminatorResult) -> None:
    """The mean gradient norm each generator cost passes to the fakes, per setting."""
    names = [x.name for x in result.settings]
    pos = np.arange(len(names))
    vals = [
        [x.saturating_grad for x in result.settings],
        [x.non_saturating_grad for x in result.settings],
        [x.critic_grad for x in result.settings],
    ]
    labels = ["minimax (saturating)", "non-saturating -log D", "WGAN-GP critic"]
    colors = ["tab:red", "tab:orange", "tab:blue"]
    for i, (v, lab, col) in enumerate(zip(vals, labels, colors)):
        ax.bar(pos + (i - 1) * 0.27, np.maximum(v, 1e-30), width=0.27, color=col, label=lab)
    ax.set_yscale("log")
    ax.set_ylim(1e-8, 1e2)
    ax.axhline(1.0, c="k", ls=":", lw=0.8)
    ax.axhline(DISC_BOUND, c="tab:red", ls=":", lw=0.8)
    ax.set_xticks(pos)
    ax.set_xticklabels(names)
    ax.set_ylabel("mean gradient norm at the fakes")
    ax.set_title("gradient each generator cost passes to the fakes", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")


def _draw_2d(fig, axes, nets: tuple, data: tuple, s: Setting) -> None:
    """The 2-D setting: both functions over the plane with the generator's steps at the fakes, and the
    per-point gradient norms."""
    disc, critic = nets
    real, fake = data
    lim = 3.6
    side = np.linspace(-lim, lim, 121)
    xx, yy = np.meshgrid(side, side)
    grid = torch.tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=torch.float32)
    with torch.no_grad():
        sig = torch.sigmoid(critic_scores(disc, grid)).numpy().reshape(xx.shape)
        cv = critic_scores(critic, grid).numpy().reshape(xx.shape)
    shown = fake[:: max(1, len(fake) // 64)]
    for ax, values, title, net, fn in (
        (
            axes[0],
            sig,
            f"2-D: sigma(D(x)), arrows = minimax gradient (mean norm {s.saturating_grad:.2g})",
            disc,
            lambda t: -F.softplus(t),
        ),
        (
            axes[1],
            cv,
            f"2-D: critic C(x), arrows = WGAN gradient (mean norm {s.critic_grad:.3g})",
            critic,
            lambda t: t,
        ),
    ):
        cs = ax.contourf(xx, yy, values, levels=20, cmap="viridis", alpha=0.8)
        fig.colorbar(cs, ax=ax, fraction=0.046, pad=0.04)
        ax.scatter(real[:, 0], real[:, 1], s=3, c="white", alpha=0.8)
        ax.scatter(fake[:, 0], fake[:, 1], s=3, c="tab:orange", alpha=0.8)
        x = shown.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(critic_scores(net, x)).sum(), x)
        g = g.numpy()
        # the generator descends its cost -C or log(1 - sigma(D)); draw the direction it moves, to scale
        # (unit length = 0.5), so a vanishing gradient draws (almost) nothing
        ax.quiver(
            shown[:, 0], shown[:, 1], g[:, 0], g[:, 1], angles="xy", scale_units="xy", scale=2.0, color="k", width=0.004
        )
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=9)
    ax = axes[2]
    sat = _point_grads(disc, fake, lambda t: -F.softplus(t)).numpy()
    crit = _point_grads(critic, fake, lambda t: t).numpy()
    ax.hist(np.log10(np.maximum(sat, 1e-30)), bins=40, color="tab:red", alpha=0.7, label="minimax discriminator")
    ax.hist(np.log10(np.maximum(crit, 1e-30)), bins=40, color="tab:blue", alpha=0.7, label="WGAN-GP critic")
    ax.axvline(0.0, c="k", ls=":", lw=0.8)
    ax.axvline(np.log10(DISC_BOUND), c="tab:red", ls=":", lw=0.8)
    ax.set_xlabel("log10 gradient norm at each generated point")
    ax.set_title("2-D: per-point gradient norms at the fakes", fontsize=10)
    ax.legend(fontsize=8)


# ---------------------------------------------------------------------------------- registration

TITLE = "A discriminator saturates; a critic keeps a slope"
WHY = (
    "Look at the functions themselves. On disjoint real and generated data a trained discriminator is a "
    "step: 1 on the data, 0 on the fakes, flat on both, so the fakes receive (almost) no gradient. A "
    "critic held 1-Lipschitz and trained to maximize E C(real) - E C(fake) is a slope of norm 1 from the "
    "fakes towards the data: every generated point is told where to move."
)


register(Study(NAME, TITLE, CLAIM, PAPER, WHY, run, checks, draw))
