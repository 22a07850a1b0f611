"""From a config to the pieces the loop plugs together: networks, penalties, optimizers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from earthmover import penalties
from earthmover.constraints import apply_spectral_norm
from earthmover.data.toy import TOY_DISTRIBUTIONS
from earthmover.nets.registry import NetSpec, resolve_architecture


def is_toy(config) -> bool:
    return config.data.name in TOY_DISTRIBUTIONS


def resolve_data_shape(config) -> tuple[int, ...]:
    """The shape of one sample, from the config alone (loads the image source for images)."""
    if is_toy(config):
        return (2,)
    from earthmover.data.streams import make_stream

    return make_stream(config.data, 0).sample_shape


def net_spec(config, shape) -> NetSpec:
    """What the config asks of the networks, for samples of `shape`."""
    m = config.model
    return NetSpec(tuple(shape), m.latent_dim, m.width, m.depth, m.critic_norm, m.dropout,
                   auto_encoder=config.objective.name == "energy")


def build_generator(config, shape) -> tuple[torch.nn.Module, int]:
    return resolve_architecture(config.model.arch, shape).build_generator(net_spec(config, shape))


def build_critic(config, shape) -> torch.nn.Module:
    net = resolve_architecture(config.model.arch, shape).build_critic(net_spec(config, shape))
    if config.constraint.spectral_norm:
        apply_spectral_norm(net)
    return net


def _no_draws(sample_shape) -> int:
    return 0


def _one_draw(sample_shape) -> int:
    return 1


def _near_data_draws(sample_shape) -> int:
    return int(torch.Size(sample_shape).numel()) + 1


@dataclass
class PenaltyTerm:
    """A critic penalty as the loop uses it: a name for the logs and a function
    ``fn(critic, real, fake, weight=..., generator=...)``.

    ``draws(sample_shape)`` is how many uniform numbers the penalty takes from its generator
    per sample (1 for points between real and fake, one per element plus one for points near
    the data). Under torchrun the loop uses it to give each process its own slice of the draws
    one process would make for the whole batch.
    """

    name: str
    fn: Callable
    weight: float
    kwargs: dict = field(default_factory=dict)
    draws: Callable = _no_draws

    def __call__(self, critic, real, fake, scale: float = 1.0, generator=None, scaler=None):
        kwargs = dict(self.kwargs)
        if scaler is not None and self.fn is not penalties.consistency_term:
            kwargs["scaler"] = scaler
        return self.fn(critic, real, fake, weight=self.weight * scale, generator=generator, **kwargs)


def build_penalties(config) -> list[PenaltyTerm]:
    p = config.penalty
    terms = []
    if p.gp:
        terms.append(PenaltyTerm("gradient_penalty", penalties.gradient_penalty, p.gp,
                                 {"target": p.gp_target, "one_sided": p.gp_one_sided, "points": p.gp_points},
                                 draws=_one_draw if p.gp_points == "between" else _near_data_draws))
    if p.dragan:
        terms.append(PenaltyTerm("dragan", penalties.dragan_penalty, p.dragan, draws=_near_data_draws))
    if p.r1:
        terms.append(PenaltyTerm("r1", penalties.r1_penalty, p.r1))
    if p.r2:
        terms.append(PenaltyTerm("r2", penalties.r2_penalty, p.r2))
    if p.consistency:
        terms.append(PenaltyTerm("consistency", penalties.consistency_term, p.consistency, {"margin": p.consistency_margin}))
    return terms


def build_optimizer(config, params, lr: float) -> torch.optim.Optimizer:
    o = config.optim
    if o.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    # The fused kernel (CPU and CUDA) is measurably faster for the small networks of toy runs (~6% per step).
    return torch.optim.Adam(params, lr=lr, betas=(o.beta1, o.beta2), fused=True)
