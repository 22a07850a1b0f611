"""Arjovsky & Bottou 2017 ("Towards principled methods for training GANs", section 2.2 and
Figures 2-3): against a better and better discriminator, the generator's gradient

- vanishes for the original, saturating cost E log(1 - D(G(z))) (Theorem 2.4: its norm is bounded
  by a multiple of the discriminator's error, which goes to 0 when the supports are disjoint);
- does not vanish for the non-saturating cost -E log D(G(z)), but grows (Theorem 2.6 adds that
  it becomes noisy near the optimum; the std over evaluation batches is reported, and in this
  cheap set-up it stays near 10% of the mean, so that half of the claim is not shown here);
- stays useful (neither vanishing nor exploding) for a WGAN critic whose Lipschitz constant is
  held near 1 (here by the gradient penalty of WGAN-GP).

Set-up (cheap, 2-D): the data are the 8 Gaussians (radius 1.41, std 0.014); the generator is a
small MLP at its initialization, held fixed, whose samples sit near the origin: the supports are
(practically) disjoint, as in the paper. A discriminator (MLP, width 64, depth 3) is trained from
scratch with the minimax loss (Adam), and at checkpoints k = 10, 50, ..., 2000 critic steps we
measure the norm of the gradient of each generator cost with respect to the generator's
parameters, on 8 fixed batches of z (mean and std over the batches). A WGAN-GP critic (same
initial weights, Adam 1e-4 with betas (0, 0.9), lambda = 10) is trained alongside and measured
for the Wasserstein generator cost -E C(G(z)).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from earthmover.data.toy import eight_gaussians
from earthmover.errors import EarthmoverError
from earthmover.losses import objectives
from earthmover.losses.penalties import critic_input_gradient, interpolate, per_sample_norm
from earthmover.nets.critic_output import critic_scores
from earthmover.nets.mlp import MLPCritic, MLPGenerator
from earthmover.ot import emd_samples
from earthmover.plotting import save_figure
from earthmover.studies.common import (
    at_least,
    at_most,
    parameter_grad_norm,
    seeded,
    step_discriminator_and_critic,
)
from earthmover.studies.registry import Study, register

NAME = "vanishing-gradients"
PAPER = (
    "Arjovsky & Bottou 2017, Towards Principled Methods for Training GANs, section 2.2 "
    "(Theorems 2.4 and 2.6, Figures 2-3)"
)
CLAIM = (
    "As the discriminator gets better, the gradient of the original (saturating) generator cost "
    "vanishes, while the gradient a WGAN critic gives the generator does not."
)
LOSSES = ("saturating", "non-saturating", "wasserstein")


@dataclass
class VanishingGradientsResult:
    steps: list[int]
    """Critic training steps at each checkpoint."""
    grad_norm: dict[str, list[float]]
    """Per generator cost: mean over the evaluation batches of ||d cost / d theta_G||."""
    grad_norm_std: dict[str, list[float]]
    """Per generator cost: std over the evaluation batches of that norm."""
    accuracy: list[float]
    """The minimax discriminator's accuracy (D > 0 on data, D < 0 on samples), held-out batch."""
    mean_d_fake: list[float]
    """Mean sigma(D(G(z))): what the discriminator gives the samples."""
    critic_gap: list[float]
    """The WGAN-GP critic's estimate of W: E C(x) - E C(G(z))."""
    critic_input_grad: list[float]
    """Mean ||grad_x C|| of the WGAN-GP critic at interpolates between data and samples."""
    w_exact: float
    """The exact earth mover's distance between the held-out data and sample batches."""
    saturating_drop: float
    """grad_norm[saturating] at the last checkpoint / at the first."""
    non_saturating_drop: float
    wasserstein_drop: float
    seed: int = 0
    lr: float = 1e-3
    """The minimax discriminator's Adam learning rate (the WGAN-GP critic uses 1e-4)."""
    batch_size: int = 256

    def to_dict(self) -> dict:
        return asdict(self)

    def rows(self) -> tuple[list[str], list[list]]:
        header = [
            "critic steps",
            "|g| saturating",
            "|g| non-sat",
            "|g| wasserstein",
            "D accuracy",
            "sigma(D(G(z)))",
            "critic gap",
        ]
        rows = [
            [
                s,
                self.grad_norm["saturating"][i],
                self.grad_norm["non-saturating"][i],
                self.grad_norm["wasserstein"][i],
                self.accuracy[i],
                self.mean_d_fake[i],
                self.critic_gap[i],
            ]
            for i, s in enumerate(self.steps)
        ]
        return header, rows

    def summary(self) -> list[str]:
        a, b = self.steps[0], self.steps[-1]
        return [
            f"gradient norm at {b} / at {a} critic steps: saturating {self.saturating_drop:.3g}, "
            f"non-saturating {self.non_saturating_drop:.3g}, wasserstein {self.wasserstein_drop:.3g}",
            f"WGAN-GP critic gap {self.critic_gap[-1]:.4g} vs exact W {self.w_exact:.4g} (held-out batches)",
        ]


def checks(result: VanishingGradientsResult) -> list:
    return [
        at_most("saturating gradient, last / first checkpoint (falls >= 100x)", result.saturating_drop, 1e-2),
        at_least("Wasserstein gradient, last / first checkpoint (does not fall)", result.wasserstein_drop, 1.0),
        at_least("discriminator accuracy at the last checkpoint", result.accuracy[-1], 0.99),
    ]


def _batches_norms(loss_fn, critic, generator, z_batches) -> tuple[float, float]:
    norms = [
        parameter_grad_norm(loss_fn(critic_scores(critic, generator(z))), generator.parameters()) for z in z_batches
    ]
    return float(np.mean(norms)), float(np.std(norms))


def _networks(seed: int) -> tuple[MLPGenerator, MLPCritic, MLPCritic]:
    """The fixed generator, and the discriminator and critic from one starting point."""
    with seeded(seed):
        generator = MLPGenerator(latent_dim=2, out_dim=2, width=32, depth=3)
        disc = MLPCritic(in_dim=2, width=64, depth=3)
        critic = MLPCritic(in_dim=2, width=64, depth=3)
        critic.load_state_dict(disc.state_dict())  # the same starting point for both
    generator.requires_grad_(True)
    return generator, disc, critic


def _measure(disc, critic, generator, z_eval, real_eval, fake_eval, seed: int):
    """One checkpoint: ({cost: (mean, std) of the generator's gradient norm over the batches},
    {accuracy, mean_d_fake, gap, input_grad}) on the held-out batches."""
    norms = {
        name: _batches_norms(fn, net, generator, z_eval)
        for name, fn, net in (
            ("saturating", objectives.minimax_generator_loss, disc),
            ("non-saturating", objectives.non_saturating_generator_loss, disc),
            ("wasserstein", objectives.wasserstein_generator_loss, critic),
        )
    }
    with torch.no_grad():
        d_real, d_fake = critic_scores(disc, real_eval), critic_scores(disc, fake_eval)
        numbers = {
            "accuracy": 0.5 * float((d_real > 0).float().mean() + (d_fake < 0).float().mean()),
            "mean_d_fake": float(torch.sigmoid(d_fake).mean()),
            "gap": float(critic_scores(critic, real_eval).mean() - critic_scores(critic, fake_eval).mean()),
        }
    x_hat = interpolate(real_eval, fake_eval, torch.Generator().manual_seed(seed + 1))
    numbers["input_grad"] = float(per_sample_norm(critic_input_gradient(critic, x_hat, create_graph=False)).mean())
    return norms, numbers


def _drop(norms: list[float]) -> float:
    """Last over first gradient norm (inf when the first is 0)."""
    return norms[-1] / norms[0] if norms[0] > 0 else math.inf


def run(
    seed: int = 0,
    quick: bool = False,
    steps: list[int] | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    gp_weight: float = 10.0,
) -> VanishingGradientsResult:
    """Train the two critics to each checkpoint and measure the generator's gradients there.

    Full: checkpoints 10, 50, 100, 500, 1000, 2000; batch 256; discriminator Adam lr 1e-3.
    Quick: checkpoints 10, 50, 100, 300; batch 128; lr 3e-3 (the discriminator saturates sooner).
    """
    steps = sorted(int(s) for s in (steps or ([10, 50, 100, 300] if quick else [10, 50, 100, 500, 1000, 2000])))
    batch_size = int(batch_size or (128 if quick else 256))
    lr = float(lr or (3e-3 if quick else 1e-3))
    if steps[0] < 1:
        raise EarthmoverError(f"steps={steps}; checkpoints must be >= 1 critic step")
    data = eight_gaussians()
    rng = torch.Generator().manual_seed(int(seed))
    generator, disc, critic = _networks(seed)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_c = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.0, 0.9))

    n_eval_batches, eval_batch = 8, 128
    z_eval = [torch.randn(eval_batch, 2, generator=rng) for _ in range(n_eval_batches)]
    real_eval = data.sample(n_eval_batches * eval_batch, rng)
    with torch.no_grad():
        fake_eval = generator(torch.cat(z_eval))
    w_exact = emd_samples(real_eval[:512], fake_eval[:512])

    grad_norm: dict[str, list[float]] = {k: [] for k in LOSSES}
    grad_std: dict[str, list[float]] = {k: [] for k in LOSSES}
    tracks: dict[str, list[float]] = {"accuracy": [], "mean_d_fake": [], "gap": [], "input_grad": []}
    step = 0
    for target in steps:
        while step < target:
            real = data.sample(batch_size, rng)
            with torch.no_grad():
                fake = generator(torch.randn(batch_size, 2, generator=rng))
            step_discriminator_and_critic(disc, critic, opt_d, opt_c, real, fake, gp_weight=gp_weight, generator=rng)
            step += 1
        norms, numbers = _measure(disc, critic, generator, z_eval, real_eval, fake_eval, int(seed))
        for name, (m, s) in norms.items():
            grad_norm[name].append(m)
            grad_std[name].append(s)
        for key, value in numbers.items():
            tracks[key].append(value)

    return VanishingGradientsResult(
        steps=steps,
        grad_norm=grad_norm,
        grad_norm_std=grad_std,
        accuracy=tracks["accuracy"],
        mean_d_fake=tracks["mean_d_fake"],
        critic_gap=tracks["gap"],
        critic_input_grad=tracks["input_grad"],
        w_exact=w_exact,
        saturating_drop=_drop(grad_norm["saturating"]),
        non_saturating_drop=_drop(grad_norm["non-saturating"]),
        wasserstein_drop=_drop(grad_norm["wasserstein"]),
        seed=seed,
        lr=lr,
        batch_size=batch_size,
    )


def draw(result: VanishingGradientsResult, path: str | Path) -> Path:
    """Left: generator gradient norm (log) vs critic steps, one curve per cost, bands = std over
    batches. Right: the discriminator's accuracy and sigma(D(G(z))), and the WGAN-GP critic's gap vs W."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.asarray(result.steps)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.3), dpi=100)
    colors = {"saturating": "tab:red", "non-saturating": "tab:orange", "wasserstein": "tab:blue"}
    labels = {
        "saturating": "minimax (saturating) E log(1 - D(G(z)))",
        "non-saturating": "non-saturating -E log D(G(z))",
        "wasserstein": "WGAN-GP critic -E C(G(z))",
    }
    for name in LOSSES:
        m = np.asarray(result.grad_norm[name])
        s = np.asarray(result.grad_norm_std[name])
        ax.plot(steps, m, "o-", c=colors[name], label=labels[name])
        ax.fill_between(steps, np.maximum(m - s, m * 1e-3), m + s, color=colors[name], alpha=0.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("critic training steps")
    ax.set_ylabel("||d cost / d theta_G||")
    ax.set_title("generator gradient as the critic improves (generator fixed)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)

    ax2.plot(steps, result.accuracy, "s-", c="k", label="discriminator accuracy")
    ax2.plot(steps, result.mean_d_fake, "^-", c="tab:red", label="mean sigma(D(G(z)))")
    ax2.set_xscale("log")
    ax2.set_ylim(-0.05, 1.05)
    ax2.set_xlabel("critic training steps")
    ax2.grid(alpha=0.3, which="both")
    ax3 = ax2.twinx()
    ax3.plot(steps, result.critic_gap, "o--", c="tab:blue", label="WGAN-GP critic gap E C(x) - E C(G(z))")
    ax3.axhline(result.w_exact, c="tab:blue", lw=0.8, ls=":", label=f"exact W = {result.w_exact:.3g}")
    ax3.set_ylabel("critic gap", color="tab:blue")
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = ax3.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, fontsize=7, loc="center left")
    ax2.set_title("minimax discriminator and WGAN-GP critic", fontsize=10)
    fig.suptitle(
        f"Vanishing gradients (Arjovsky & Bottou 2017): last / first gradient norm: saturating "
        f"{result.saturating_drop:.2g}, non-saturating {result.non_saturating_drop:.2g}, "
        f"Wasserstein {result.wasserstein_drop:.2g}",
        fontsize=10,
    )
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------- registration

TITLE = "The minimax generator's gradient vanishes as the discriminator improves"
WHY = (
    "In training this shows up as a vanishing gradient. Against the optimal discriminator the minimax "
    "game's value is 2 JS - 2 log 2, which on disjoint supports is the constant 0: the better the "
    "discriminator, the less the generator's cost changes when the generator moves, and the gradient it "
    "receives goes to zero. With the generator held fixed, training the discriminator longer makes the "
    "saturating gradient fall by orders of magnitude. The -log D trick keeps a gradient but, as Arjovsky "
    "and Bottou show, an unstable one. A WGAN critic's gradient does not vanish."
)


register(Study(NAME, TITLE, CLAIM, PAPER, WHY, run, checks, draw))
