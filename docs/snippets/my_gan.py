"""my_gan.py: a new objective, penalty and critic head in one module.

Use it from the folder that holds this file:

    PYTHONPATH=. earthmover train --plugins my_gan --objective soft-hinge --penalty.gp 0 \
        --penalty.jitter-gp 2 --head.input-probe 0.5 --constraint.spectral-norm true
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from earthmover import objectives, penalties, registry
from earthmover.losses import heads
from earthmover.registry import param


@registry.OBJECTIVES.register("soft-hinge")  # --objective soft-hinge --objective.sharpness 3
@dataclass(frozen=True)
class SoftHinge(objectives.Objective):
    """E softplus(s (1 - D(x))) / s + E softplus(s (1 + D(x~))) / s: the hinge as s grows."""

    sharpness: float = param(2.0, "how close to the hinge", above=0.0)

    def critic_loss(self, real, fake):
        s = self.sharpness
        loss = F.softplus(s * (1 - real.score)).mean() + F.softplus(s * (1 + fake.score)).mean()
        return {"critic": loss / s}

    def generator_loss(self, fake):
        return {"generator": -fake.score.mean()}


@registry.PENALTIES.register("jitter_gp")  # --penalty.jitter-gp 2 --penalty.jitter-gp-spread 0.2
@dataclass(frozen=True)
class JitterGP(penalties.Penalty):
    """weight * E ||grad D(x + spread (2u - 1))||^2, u ~ U[0, 1) per element of x."""

    weight: float = param(0.0, "weight (0 = off)", min=0.0)
    spread: float = param(0.1, "half-width of the jitter", min=0.0, max=1.0)

    def __call__(self, critic, real, fake, *, weight, generator=None):
        # draw through the loop's generator: exactly reproducible under torchrun too
        u = generator.rand(tuple(real.shape)).to(real)
        grad = penalties.critic_input_gradient(critic, real + self.spread * (2 * u - 1))
        return weight * grad.flatten(1).pow(2).sum(dim=1).mean()


@registry.HEADS.register("input_probe")  # --head.input-probe 0.5
@dataclass(frozen=True)
class InputProbe(heads.Head):
    """Reads each sample back from the critic's features (a linear probe)."""

    weight: float = param(0.0, "the probe's weight in the critic's loss (0 = off)", min=0.0)
    provides = ("probe",)
    needs = ("features",)  # checked against the built critic

    def module(self, feature_dim, data):
        return torch.nn.Linear(feature_dim, math.prod(data.sample_shape))

    def critic_terms(self, real, fake):  # logged as loss/probe
        def error(s):
            return (s.out.extras["probe"] - s.x.flatten(1)).pow(2).sum(1).mean()

        return {"probe": self.weight * (error(real) + error(fake))}
