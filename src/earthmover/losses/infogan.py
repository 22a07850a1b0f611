"""InfoGAN (Chen et al. 2016, "InfoGAN: Interpretable Representation Learning by Information
Maximizing Generative Adversarial Nets").

The generator reads noise z and codes c (:mod:`earthmover.data.codes`); a Q head on the critic's
trunk predicts c from a generated sample, and both the generator and Q maximize the variational
lower bound on the mutual information I(c; G(z, c)):

    L_I(G, Q) = E_{c ~ p(c), x ~ G(z, c)} [ log Q(c | x) ] + H(c)  <=  I(c; G(z, c)).

H(c) is a constant, so the trained term is the cross-entropy -E log Q(c | x), added with weight
lambda (1 in the paper) to the critic's loss (it trains Q through the shared trunk) and to the
generator's loss (it trains G). For a categorical code Q outputs logits and the term is the
softmax cross-entropy; for a continuous code Q outputs a Gaussian's mean (and, optionally, its
log standard deviation; the paper's MNIST run fixes the standard deviation at 1,
``Uniform(1, fix_std=True)`` in ``openai/InfoGAN``), and the term is the Gaussian negative
log-likelihood

    -log N(c; mu, sigma^2) = 0.5 log(2 pi) + log sigma + 0.5 ((c - mu) / sigma)^2,

summed over the continuous codes. Both are averaged over the batch.

The known trap: the term must carry a gradient into the generator. In the generator step Q's
input is the generator's output, not detached; only the critic step detaches its fakes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from earthmover.data.codes import CodeSpec, LatentCodes
from earthmover.data.labels import at_least_float32
from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import CriticOutput, as_critic_output

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class InfoGANParams:
    """The codes and the weights of the bound. Field metadata has the shape of ``earthmover.registry.param``
    (doc, min); ``categorical`` is a tuple here, which a registered entry flattens to ints (see the wiring plan)."""

    weight: float = field(
        default=1.0, metadata={"earthmover": {"doc": "lambda for the categorical codes' term", "min": 0.0}}
    )
    continuous_weight: float = field(
        default=1.0, metadata={"earthmover": {"doc": "lambda for the continuous codes' term", "min": 0.0}}
    )
    noise_dim: int = field(default=62, metadata={"earthmover": {"doc": "incompressible noise dimensions", "min": 0}})
    categorical: tuple[int, ...] = field(
        default=(10,), metadata={"earthmover": {"doc": "values of each categorical code"}}
    )
    continuous: int = field(
        default=2, metadata={"earthmover": {"doc": "continuous codes, uniform on [-1, 1]", "min": 0}}
    )
    learn_std: bool = field(
        default=False, metadata={"earthmover": {"doc": "Q predicts each continuous code's standard deviation (else 1)"}}
    )
    hidden: int = field(default=128, metadata={"earthmover": {"doc": "hidden units of the Q head", "min": 1}})

    def __post_init__(self):
        if not self.weight >= 0 or not self.continuous_weight >= 0:
            raise EarthmoverError(
                f"infogan.weight = {self.weight}, continuous_weight = {self.continuous_weight}; expected weights >= 0"
            )
        if self.hidden < 1:
            raise EarthmoverError(f"infogan.hidden = {self.hidden}; expected at least 1 unit")
        _ = self.codes  # validates the code layout

    @property
    def codes(self) -> CodeSpec:
        return CodeSpec(noise_dim=self.noise_dim, categorical=self.categorical, continuous=self.continuous)


@dataclass
class QOutput:
    """What Q says about a batch: a distribution over each code."""

    logits: tuple[Tensor, ...]
    """One (N, k_j) tensor of logits per categorical code."""
    mean: Tensor
    """(N, n_continuous) means of the continuous codes."""
    log_std: Tensor | None = None
    """(N, n_continuous) log standard deviations, or None for a fixed standard deviation of 1."""


def categorical_code_loss(logits: tuple[Tensor, ...] | list[Tensor], categorical: Tensor) -> Tensor:
    """-E log Q(c_cat | x): the softmax cross-entropy summed over categorical codes, averaged over the batch."""
    if len(logits) != categorical.shape[1]:
        raise EarthmoverError(f"{len(logits)} sets of logits for {categorical.shape[1]} categorical codes")
    if not logits:
        return categorical.new_zeros((), dtype=torch.float32)
    # logits is not empty here, so the sum is a tensor (the type: ignore below)
    return sum(F.cross_entropy(at_least_float32(l), categorical[:, j].long()) for j, l in enumerate(logits))  # type: ignore[return-value]


def continuous_code_loss(mean: Tensor, target: Tensor, log_std: Tensor | None = None) -> Tensor:
    """-E log N(c_cont; mean, std^2), summed over continuous codes, averaged over the batch
    (std = 1 if log_std is None)."""
    if mean.shape != target.shape:
        raise EarthmoverError(
            f"Q's continuous means {tuple(mean.shape)} and the codes {tuple(target.shape)} differ in shape"
        )
    if mean.shape[1] == 0:
        return mean.new_zeros((), dtype=torch.float32)
    mean = at_least_float32(mean)
    target = target.to(mean.dtype)
    if log_std is None:
        nll = HALF_LOG_2PI + 0.5 * (target - mean).pow(2)
    else:
        log_std = at_least_float32(log_std)
        nll = HALF_LOG_2PI + log_std + 0.5 * ((target - mean) * torch.exp(-log_std)).pow(2)
    return nll.sum(dim=1).mean()


def code_entropy(spec: CodeSpec) -> float:
    """H(c) in nats: log k for each categorical code, log(2 r) for each continuous code uniform on [-r, r]
    (a differential entropy: the continuous part of the bound is not bounded below by 0)."""
    return sum(math.log(k) for k in spec.categorical) + spec.continuous * math.log(2 * spec.continuous_range)


def mutual_information_bound(q: QOutput, codes: LatentCodes) -> Tensor:
    """The variational lower bound H(c) + E log Q(c | x) on I(c; x) (logged, not trained)."""
    ce = categorical_code_loss(q.logits, codes.categorical) + continuous_code_loss(q.mean, codes.continuous, q.log_std)
    return code_entropy(codes.spec) - ce


def info_loss(q: QOutput, codes: LatentCodes, weight: float = 1.0, continuous_weight: float = 1.0) -> dict[str, Tensor]:
    """The terms added to both the critic's and the generator's loss: {"info_categorical", "info_continuous"}."""
    return {
        "info_categorical": weight * categorical_code_loss(q.logits, codes.categorical),
        "info_continuous": continuous_weight * continuous_code_loss(q.mean, codes.continuous, q.log_std),
    }


class QHead(nn.Module):
    """Q(c | x) on the critic's features: Linear - LeakyReLU(0.1) - Linear, as in the paper's MNIST
    encoder (128 hidden units), without its batch normalization (batch statistics couple samples,
    which a per-sample gradient penalty forbids)."""

    def __init__(self, in_features: int, params: InfoGANParams | None = None):
        super().__init__()
        self.params = params or InfoGANParams()
        self.spec = self.params.codes
        out = self.spec.q_dim + (self.spec.continuous if self.params.learn_std else 0)
        self.net = nn.Sequential(
            nn.Linear(in_features, self.params.hidden), nn.LeakyReLU(0.1), nn.Linear(self.params.hidden, out)
        )

    def forward(self, out: Tensor | CriticOutput) -> QOutput:
        features = as_critic_output(out).features
        if features is None:
            raise EarthmoverError(
                "InfoGAN's Q head reads the critic's features, but this critic returns a bare score; "
                "use an architecture whose critic returns CriticOutput(score, features)"
            )
        return split_q(self.net(features.flatten(1)), self.spec, self.params.learn_std)

    def terms(self, fake: Tensor | CriticOutput, codes: LatentCodes) -> dict[str, Tensor]:
        """The weighted cross-entropy terms on generated samples (the same in the critic and generator steps)."""
        return info_loss(self(fake), codes, self.params.weight, self.params.continuous_weight)

    @torch.no_grad()
    def predict(self, out: Tensor | CriticOutput) -> Tensor:
        """The most likely value of each categorical code, (N, n_categorical) (for metrics.code_accuracy)."""
        q = self(out)
        if not q.logits:
            return torch.zeros(q.mean.shape[0], 0, dtype=torch.long)
        return torch.stack([l.argmax(dim=1) for l in q.logits], dim=1)


def split_q(flat: Tensor, spec: CodeSpec, learn_std: bool = False) -> QOutput:
    """Cut Q's flat output into logits per categorical code, continuous means and (optionally) log stds."""
    expected = spec.q_dim + (spec.continuous if learn_std else 0)
    if flat.dim() != 2 or flat.shape[1] != expected:
        raise EarthmoverError(f"Q's output has shape {tuple(flat.shape)}; expected (N, {expected}) for {spec}")
    logits, start = [], 0
    for k in spec.categorical:
        logits.append(flat[:, start : start + k])
        start += k
    mean = flat[:, start : start + spec.continuous]
    log_std = flat[:, start + spec.continuous :] if learn_std else None
    return QOutput(tuple(logits), mean, log_std)
