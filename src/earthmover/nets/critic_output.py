"""What a critic says about a batch.

Critics return raw scores (no sigmoid). A critic that says more than a score
(an auto-encoder's codes, the penultimate features used by the consistency
term) returns a :class:`CriticOutput`; a plain tensor is accepted everywhere
and read as the score.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class CriticOutput:
    score: Tensor
    """(N,) raw score; an energy for EBGAN, a loss value for the loss-sensitive GAN."""
    features: Tensor | None = None
    """(N, K) penultimate activations (or an auto-encoder's codes), when the critic exposes them."""
    extras: dict[str, Tensor] = field(default_factory=dict)
    """What the critic's heads compute from the features, by the name each head ``provides``
    (AC-GAN's ``class_logits``, InfoGAN's ``q``); per sample, first dimension N."""

    def part(self, rows: slice) -> CriticOutput:
        """The output for a slice of the batch's rows, in float32 (the loss maths' precision
        under autocast): how the loop splits one pass over real and fake into two."""
        return CriticOutput(
            self.score[rows].float(),
            None if self.features is None else self.features[rows].float(),
            {k: v[rows].float() for k, v in self.extras.items()},
        )


def as_critic_output(out: Tensor | CriticOutput) -> CriticOutput:
    """Read a critic's return value: a plain tensor of shape (N,) or (N, 1) is the score."""
    if isinstance(out, CriticOutput):
        return out
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"a critic must return a Tensor or CriticOutput, got {type(out).__name__}")
    return CriticOutput(score=out.reshape(out.shape[0], -1).squeeze(1) if out.dim() > 1 else out)


def critic_scores(critic: torch.nn.Module, x: Tensor) -> Tensor:
    """The (N,) raw scores of `critic` on `x`."""
    return as_critic_output(critic(x)).score
