"""Each paper's defaults, by name.

A preset is a set of dotted config values that a config file and CLI flags can
still override; :class:`earthmover.train.config.Config` applies them (this module imports
nothing of the config, so the two never import each other). ``earthmover train --preset NAME``.
Each preset is one entry of the :data:`PRESETS` registry; a plug-in module adds one with :func:`register`.
Values are the papers' own; where a paper gives none for a field the library
default stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from earthmover.registry import Registry


@dataclass(frozen=True)
class Preset:
    name: str
    paper: str
    values: dict[str, Any] = field(default_factory=dict)


def _adam(lr_g, lr_d, beta1, beta2, n_critic):
    return {
        "optim.name": "adam",
        "optim.lr_g": lr_g,
        "optim.lr_d": lr_d,
        "optim.beta1": beta1,
        "optim.beta2": beta2,
        "optim.n_critic": n_critic,
    }


_WGAN_GP = {"objective.name": "wasserstein", "penalty.gp": 10.0, **_adam(1e-4, 1e-4, 0.0, 0.9, 5)}
_DCGAN_ADAM = _adam(2e-4, 2e-4, 0.5, 0.999, 1)

PRESETS: Registry[Preset] = Registry("preset", "a paper's defaults, by name (earthmover train --preset NAME)")


def register(preset: Preset, *, replace: bool = False) -> Preset:
    """Add `preset` (a plug-in module calls this); ``--preset`` and its errors list every registered name."""
    return PRESETS.register(preset.name, preset, replace=replace)


for _preset in [
    Preset(
        "wgan",
        "Arjovsky, Chintala, Bottou 2017, Wasserstein GAN: RMSProp lr 5e-5, c = 0.01, batch 64, n_critic 5",
        {
            "objective.name": "wasserstein",
            "constraint.clip": 0.01,
            "optim.name": "rmsprop",
            "optim.lr_g": 5e-5,
            "optim.lr_d": 5e-5,
            "optim.n_critic": 5,
            "data.batch_size": 64,
        },
    ),
    Preset(
        "wgan-gp",
        "Gulrajani et al. 2017, Improved Training of Wasserstein GANs: Adam 1e-4, betas (0, 0.9), lambda 10, n_critic "
        "5",
        dict(_WGAN_GP),
    ),
    Preset(
        "wgan-lp",
        "Petzka, Fischer, Lukovnikov 2018, On the regularization of Wasserstein GANs: the one-sided penalty",
        {**_WGAN_GP, "penalty.gp_one_sided": True},
    ),
    Preset(
        "dcgan",
        "Radford, Metz, Chintala 2016: non-saturating loss, Adam 2e-4, betas (0.5, 0.999), n_critic 1",
        {"objective.name": "non-saturating", **_DCGAN_ADAM},
    ),
    Preset(
        "minimax",
        "Goodfellow et al. 2014: the saturating minimax loss (with the DCGAN optimizer)",
        {"objective.name": "minimax", **_DCGAN_ADAM},
    ),
    Preset(
        "lsgan",
        "Mao et al. 2017, Least Squares GAN: a=0, b=1, c=1, Adam 2e-4, beta1 0.5",
        {
            "objective.name": "least-squares",
            "objective.a": 0.0,
            "objective.b": 1.0,
            "objective.c": 1.0,
            **_DCGAN_ADAM,
        },
    ),
    Preset(
        "sngan",
        "Miyato et al. 2018, Spectral Normalization: hinge loss, Adam 2e-4, betas (0, 0.9), n_critic 5",
        {"objective.name": "hinge", "constraint.spectral_norm": True, **_adam(2e-4, 2e-4, 0.0, 0.9, 5)},
    ),
    Preset(
        "hinge",
        "Lim & Ye 2017, Geometric GAN: hinge loss without spectral normalization",
        {"objective.name": "hinge", **_adam(2e-4, 2e-4, 0.0, 0.9, 5)},
    ),
    Preset(
        "ebgan",
        "Zhao, Mathieu, LeCun 2016, Energy-based GAN: auto-encoder critic, pulling-away weight 0.1, Adam 1e-3, "
        "beta1 0.5; margin 1 in this library's units (energy = squared reconstruction error per element, at most 4 "
        "on images in [-1, 1]), not the paper's 10, which no image energy here could ever exceed",
        {
            "objective.name": "energy",
            "objective.margin": 1.0,
            "objective.pt_weight": 0.1,
            **_adam(1e-3, 1e-3, 0.5, 0.999, 1),
        },
    ),
    Preset(
        "loss-sensitive",
        "Qi 2017, Loss-Sensitive GAN: lambda 1, Adam 1e-4, beta1 0.5; margin Delta = 2.4576 x mean "
        "absolute difference per element, which is the authors' 2e-4 x summed L1 on 64x64 RGB images (12,288 values) "
        "and keeps Delta of order 1 on toy points too",
        {
            "objective.name": "loss-sensitive",
            "objective.lam": 1.0,
            "objective.margin_scale": 2.4576,
            **_adam(1e-4, 1e-4, 0.5, 0.999, 1),
        },
    ),
    Preset(
        "r1",
        "Mescheder, Geiger, Nowozin 2018, Which training methods for GANs actually converge?: non-saturating loss with "
        "R1, gamma 10",
        {"objective.name": "non-saturating", "penalty.r1": 10.0, **_adam(1e-4, 1e-4, 0.0, 0.99, 1)},
    ),
    Preset(
        "dragan",
        "Kodali et al. 2017, On Convergence and Stability of GANs: non-saturating loss, penalty near the data, lambda "
        "10",
        {"objective.name": "non-saturating", "penalty.dragan": 10.0, **_adam(1e-4, 1e-4, 0.5, 0.9, 1)},
    ),
    Preset(
        "ct-gan",
        "Wei et al. 2018, Improving the Improved Training of WGANs: WGAN-GP plus the consistency term, lambda_2 2, M' "
        "0, dropout 0.5",
        {**_WGAN_GP, "penalty.consistency": 2.0, "penalty.consistency_margin": 0.0, "model.dropout": 0.5},
    ),
    Preset(
        "quickstart",
        "The main job: the WGAN-GP objective and penalty on the 25-gaussian grid, with the learning "
        "rate and its schedule, Adam beta1, the penalty's weight and how often it applies, and the network shape "
        "chosen by measurement (benchmarks/quickstart.py) to cover all 25 modes sharply in about a minute on 2 CPU "
        "cores: Adam 1e-3 decayed linearly to 0, betas (0.5, 0.9), n_critic 4, lambda 0.5 applied lazily on every "
        "4th critic step (once per generator step, scaled by 4), 4 hidden layers of 128, batch 256, EMA 0.99, "
        "4500 steps",
        {
            "objective.name": "wasserstein",
            "penalty.gp": 0.5,
            "penalty.every": 4,
            **_adam(1e-3, 1e-3, 0.5, 0.9, 4),
            "optim.lr_decay": "linear",
            "model.width": 128,
            "model.depth": 4,
            "model.ema": 0.99,
            "data.name": "25gaussians",
            "data.batch_size": 256,
            "run.steps": 4500,
        },
    ),
    Preset(
        "mnist",
        "The recommended MNIST run, chosen by measurement (benchmarks/mnist.py): the WGAN-GP objective and "
        "penalty (lambda 10) on the WGAN-GP paper's MNIST networks (wgan-gp-mnist), batch 50, with Adam 2e-4 for both "
        "networks, betas (0.5, 0.9), n_critic 2 and an EMA generator (0.999): against the paper's Adam 1e-4 and "
        "n_critic 5 "
        "it takes 2.2x as many generator steps per second, each moving further",
        {
            "objective.name": "wasserstein",
            "penalty.gp": 10.0,
            **_adam(2e-4, 2e-4, 0.5, 0.9, 2),
            "model.arch": "wgan-gp-mnist",
            "data.name": "mnist",
            "data.batch_size": 50,
            "model.ema": 0.999,
            "run.steps": 3000,
        },
    ),
    Preset(
        "infogan",
        "Chen et al. 2016, InfoGAN, its MNIST run (openai/InfoGAN, run_mnist_exp.py): the paper's networks "
        "(infogan-mnist, batch norm in the critic), non-saturating loss, Adam 1e-3 for the generator and 2e-4 for the "
        "critic and Q, beta1 0.5, batch 128, 5,000 steps; one 10-way code and two continuous codes, lambda 1 for both "
        "terms (its code's; a smaller continuous lambda, which the paper's text suggests, collapsed a seed here: "
        "benchmarks/RESULTS.md, Control); plus this library's EMA generator (0.999), which sample and eval use",
        {
            "objective.name": "non-saturating",
            **_adam(1e-3, 2e-4, 0.5, 0.999, 1),
            "model.arch": "infogan-mnist",
            "model.critic_norm": "batch",
            "head.infogan": 1.0,
            "model.ema": 0.999,
            "data.name": "mnist",
            "data.batch_size": 128,
            "run.steps": 5000,
        },
    ),
    Preset(
        "ttur",
        "Heusel et al. 2017, Two time-scale update rule: WGAN-GP with lr_d 3e-4, lr_g 1e-4, n_critic 1",
        {
            **_WGAN_GP,
            "optim.lr_d": 3e-4,
            "optim.lr_g": 1e-4,
            "optim.beta1": 0.5,
            "optim.beta2": 0.999,
            "optim.n_critic": 1,
        },
    ),
]:
    register(_preset)


def preset_values(name: str) -> dict[str, Any]:
    """The dotted config values of a preset (raises EarthmoverError for an unknown name)."""
    return dict(PRESETS[name].values)
