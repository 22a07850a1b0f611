"""GAN objectives: how the critic's raw scores become critic and generator losses.

Each family is a pair of small pure functions of the critic's outputs, written in
a numerically stable form (``softplus`` rather than ``log(sigmoid)``), and a
frozen dataclass that binds the pair with its hyperparameters so that the one
training loop can call every family the same way:

    objective.critic_loss(real, fake)  -> {term name: scalar tensor}
    objective.generator_loss(fake)     -> {term name: scalar tensor}

where ``real`` and ``fake`` are :class:`Scored` batches (the samples and what
the critic said about them). The loop sums the terms and logs each one.

Notation: D is the critic's raw score, sigma the logistic function,
x ~ P_r real, x~ = G(z) fake. Losses are *minimized*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor

from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import CriticOutput
from earthmover.registry import OBJECTIVES, param


@dataclass
class Scored:
    """A batch of samples and the critic's output on it."""

    x: Tensor
    out: CriticOutput
    labels: Tensor | None = None
    """(N,) class labels in a labelled run (the real batch's, or those the generator was asked for)."""
    codes: Any = None
    """InfoGAN's :class:`earthmover.data.codes.LatentCodes` of a generated batch."""

    @property
    def score(self) -> Tensor:
        return self.out.score


# ---------------------------------------------------------------------------
# Pure functions (scores in, scalar loss out)
# ---------------------------------------------------------------------------


def minimax_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Goodfellow et al. 2014. The critic maximizes E log sigma(D(x)) + E log(1 - sigma(D(x~))).

    Minimized form: E softplus(-D(x)) + E softplus(D(x~)), since -log sigma(t) = softplus(-t)
    and -log(1 - sigma(t)) = softplus(t).
    """
    return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()


def minimax_generator_loss(fake_scores: Tensor) -> Tensor:
    """The saturating generator cost E log(1 - sigma(D(x~))) = -E softplus(D(x~)).

    Its gradient vanishes when the critic confidently rejects the fakes (Arjovsky & Bottou 2017).
    """
    return -F.softplus(fake_scores).mean()


def non_saturating_generator_loss(fake_scores: Tensor) -> Tensor:
    """The -log D trick (Goodfellow et al. 2014): -E log sigma(D(x~)) = E softplus(-D(x~))."""
    return F.softplus(-fake_scores).mean()


def least_squares_critic_loss(real_scores: Tensor, fake_scores: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """LSGAN (Mao et al. 2017): 1/2 E (D(x) - b)^2 + 1/2 E (D(x~) - a)^2."""
    return 0.5 * ((real_scores - b) ** 2).mean() + 0.5 * ((fake_scores - a) ** 2).mean()


def least_squares_generator_loss(fake_scores: Tensor, c: float = 1.0) -> Tensor:
    """LSGAN generator: 1/2 E (D(x~) - c)^2."""
    return 0.5 * ((fake_scores - c) ** 2).mean()


def wasserstein_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """WGAN (Arjovsky et al. 2017): E D(x~) - E D(x).

    With a 1-Lipschitz critic, minus its minimum is the earth mover's distance W(P_r, P_g)
    (Kantorovich-Rubinstein duality).
    """
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: Tensor) -> Tensor:
    """WGAN generator (also the hinge generator of SN-GAN): -E D(x~)."""
    return -fake_scores.mean()


def hinge_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): E relu(1 - D(x)) + E relu(1 + D(x~))."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def energy_critic_loss(real_energy: Tensor, fake_energy: Tensor, margin: float = 1.0) -> Tensor:
    """EBGAN (Zhao et al. 2016): E E(x) + E max(0, m - E(x~)), with E the reconstruction energy.

    The margin m is in the energy's units. Here E is the squared reconstruction error *per element*
    (mean over a sample's values, see :class:`EnergyBased`), so m = 1 means "a fake whose
    reconstruction is off by 1 per value, in RMS, is energetic enough"; fakes above m add nothing.
    """
    return real_energy.mean() + F.relu(margin - fake_energy).mean()


def pulling_away_term(codes: Tensor) -> Tensor:
    """EBGAN's repelling regularizer on a batch of encoder codes S (N, K):

        f_PT = 1 / (N (N - 1)) * sum_{i != j} cos(S_i, S_j)^2

    Cosines are taken between samples (rows), each code normalized over its own features.
    """
    n = codes.shape[0]
    if n < 2:
        return codes.new_zeros(())
    s = F.normalize(codes.flatten(1), dim=1, eps=1e-8)
    cos = s @ s.t()
    off_diagonal = cos.pow(2).sum() - cos.diagonal().pow(2).sum()
    return off_diagonal / (n * (n - 1))


def l1_margin(x_real: Tensor, x_fake: Tensor, scale: float) -> Tensor:
    """The loss-sensitive margin Delta(x, x~) = scale * mean_k |x_k - x~_k| per sample pair (N,).

    The mean absolute difference *per element* keeps Delta's scale independent of the data's size:
    a pair of 2-D toy points and a pair of 64x64 RGB images that differ by 0.5 per value get the
    same margin. The authors' code (guojunq/lsgan) sums the L1 distance over 64x64x3 = 12,288
    values and multiplies by 0.0002; ``scale`` = 0.0002 x 12,288 = 2.4576 gives exactly their
    margin on their images, and on data in [-1, 1] a typical real/fake pair (differing by 0.5 to 1
    per value) a margin of 1 to 2.5 in the units of the loss L.
    """
    return scale * (x_real - x_fake).flatten(1).abs().mean(dim=1)


def loss_sensitive_critic_loss(real_loss: Tensor, fake_loss: Tensor, margin: Tensor, lam: float = 1.0) -> Tensor:
    """LS-GAN (Qi 2017): E L(x) + lam * E relu(Delta(x, x~) + L(x) - L(x~)).

    ``real_loss`` and ``fake_loss`` are the (non-negative) loss function values L.
    """
    return real_loss.mean() + lam * F.relu(margin + real_loss - fake_loss).mean()


def loss_sensitive_generator_loss(fake_loss: Tensor) -> Tensor:
    """LS-GAN generator: E L(x~)."""
    return fake_loss.mean()


# ---------------------------------------------------------------------------
# Objectives the loop plugs in
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """Base of every objective. A subclass registers itself with ``@OBJECTIVES.register(name)``;
    its fields, declared with :func:`earthmover.registry.param`, are its parameters
    (``objective.<field>`` in the config), and its class attributes say what it needs."""

    name: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ("score",)
    """Critic outputs it reads (see :data:`earthmover.registry.CRITIC_NEEDS`)."""
    needs_lipschitz: ClassVar[bool] = False
    """True when it is only meaningful with a (roughly) Lipschitz critic: a run must add a
    penalty or constraint that declares ``lipschitz``."""
    estimate_name: ClassVar[str] = "score_gap"
    """The name under which :meth:`estimate` is logged."""
    estimate_label: ClassVar[str] = "gap"
    """Its short label on the progress bar."""

    def critic_loss(self, real: Scored, fake: Scored) -> dict[str, Tensor]:
        raise NotImplementedError

    def generator_loss(self, fake: Scored) -> dict[str, Tensor]:
        raise NotImplementedError

    def estimate(self, real: Scored, fake: Scored) -> Tensor:
        """What the critic says about the gap between the data and the fakes: E D(x) - E D(x~)."""
        return critic_gap(real.score, fake.score)


@OBJECTIVES.register("minimax")
@dataclass(frozen=True)
class Minimax(Objective):
    def critic_loss(self, real, fake):
        return {"critic": minimax_critic_loss(real.score, fake.score)}

    def generator_loss(self, fake):
        return {"generator": minimax_generator_loss(fake.score)}


@OBJECTIVES.register("non-saturating")
@dataclass(frozen=True)
class NonSaturating(Minimax):
    def generator_loss(self, fake):
        return {"generator": non_saturating_generator_loss(fake.score)}


@OBJECTIVES.register("least-squares")
@dataclass(frozen=True)
class LeastSquares(Objective):
    a: float = param(0.0, "LSGAN's target score for fakes in the critic loss")
    b: float = param(1.0, "LSGAN's target score for real samples")
    c: float = param(1.0, "LSGAN's score the generator wants for its fakes")

    def critic_loss(self, real, fake):
        return {"critic": least_squares_critic_loss(real.score, fake.score, self.a, self.b)}

    def generator_loss(self, fake):
        return {"generator": least_squares_generator_loss(fake.score, self.c)}


@OBJECTIVES.register("wasserstein")
@dataclass(frozen=True)
class Wasserstein(Objective):
    needs_lipschitz: ClassVar[bool] = True
    estimate_name: ClassVar[str] = "wasserstein_estimate"
    estimate_label: ClassVar[str] = "W"

    def critic_loss(self, real, fake):
        return {"critic": wasserstein_critic_loss(real.score, fake.score)}

    def generator_loss(self, fake):
        return {"generator": wasserstein_generator_loss(fake.score)}


@OBJECTIVES.register("hinge")
@dataclass(frozen=True)
class Hinge(Objective):
    def critic_loss(self, real, fake):
        return {"critic": hinge_critic_loss(real.score, fake.score)}

    def generator_loss(self, fake):
        return {"generator": wasserstein_generator_loss(fake.score)}


@OBJECTIVES.register("energy")
@dataclass(frozen=True)
class EnergyBased(Objective):
    """EBGAN. The critic is an auto-encoder whose score is the reconstruction energy
    and whose features are the encoder codes (see :class:`earthmover.nets.mlp.AutoEncoderCritic`).

    Units: the energy is the mean squared reconstruction error per element (per coordinate of a
    toy point, per pixel value of an image), so it does not grow with the data's size, and the
    ``margin`` is given in those same units for every data kind. For images in [-1, 1] decoded
    through tanh the energy lies in [0, 4] (0.6 or so at initialization), so a margin of 4 or more
    would keep the hinge max(0, m - E(x~)) active on every fake forever; on the unit-scale toy
    data E of a zero reconstruction is the data's per-coordinate second moment (about 1).
    The default m = 1 (an RMS reconstruction error of 1, half the image range) lets the critic
    stop pushing on fakes it already reconstructs badly. The paper's m = 10 was for its own
    un-normalized energy and does not carry over.
    """

    needs: ClassVar[tuple[str, ...]] = ("energy", "codes")
    estimate_name: ClassVar[str] = "energy_gap"
    estimate_label: ClassVar[str] = "dE"
    margin: float = param(
        1.0, "EBGAN's margin m, in the energy's units (squared reconstruction error per element)", min=0.0
    )
    pt_weight: float = param(0.1, "EBGAN's pulling-away term weight", min=0.0)

    def critic_loss(self, real, fake):
        return {"critic": energy_critic_loss(real.score, fake.score, self.margin)}

    def generator_loss(self, fake):
        terms = {"generator": fake.score.mean()}
        if self.pt_weight and fake.out.features is not None:
            terms["pulling_away"] = self.pt_weight * pulling_away_term(fake.out.features)
        return terms

    def estimate(self, real, fake):
        """E E(x~) - E E(x): how much worse the auto-encoder reconstructs fakes than data."""
        return fake.score.mean() - real.score.mean()


@OBJECTIVES.register("loss-sensitive")
@dataclass(frozen=True)
class LossSensitive(Objective):
    """Loss-sensitive GAN. The loss function is L = softplus(D), non-negative as the theory
    requires (the authors' network ends in a ReLU; softplus keeps a gradient everywhere)."""

    estimate_name: ClassVar[str] = "loss_gap"
    estimate_label: ClassVar[str] = "dL"
    lam: float = param(1.0, "Loss-sensitive GAN's lambda", min=0.0)
    margin_scale: float = param(
        2.4576,
        "Loss-sensitive GAN's Delta = margin_scale x mean absolute difference per "
        "element (2.4576: the authors' 2e-4 on summed L1 over 64x64 RGB images)",
        min=0.0,
    )
    """Delta = margin_scale x mean absolute difference per element (see :func:`l1_margin`); 2.4576 is
    the authors' 2e-4 on summed L1 over 64x64 RGB images, re-expressed per element."""

    def critic_loss(self, real, fake):
        margin = l1_margin(real.x, fake.x, self.margin_scale)
        return {"critic": loss_sensitive_critic_loss(F.softplus(real.score), F.softplus(fake.score), margin, self.lam)}

    def generator_loss(self, fake):
        return {"generator": loss_sensitive_generator_loss(F.softplus(fake.score))}

    def estimate(self, real, fake):
        """E L(x~) - E L(x), with L = softplus(D) the loss function."""
        return F.softplus(fake.score).mean() - F.softplus(real.score).mean()


def make_objective(name: str, **params) -> Objective:
    """Build a registered objective by name with its parameters (an unknown name or a parameter
    the objective does not take is an EarthmoverError)."""
    cls = OBJECTIVES[name]
    own = {p.attr for p in OBJECTIVES.params(name)}
    extra = sorted(set(params) - own)
    if extra:
        raise EarthmoverError(
            f"objective {name!r} takes no parameter {extra[0]!r}; it takes {', '.join(sorted(own)) or 'none'}"
        )
    return cls(**params)


def critic_gap(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """E D(x) - E D(x~): for a 1-Lipschitz critic, the estimate of W(P_r, P_g)."""
    return real_scores.mean() - fake_scores.mean()
