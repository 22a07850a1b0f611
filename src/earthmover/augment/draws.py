"""Where an augmentation's random numbers come from: one process's slice of the global batch's draws.

Every random number an augmentation uses is drawn from a ``torch.Generator`` the caller owns (the run's
own, saved in its checkpoints), so a resumed run is bit-identical to one that never stopped. Under
torchrun, process ``rank`` holds rows ``[offset, offset + n)`` of a global batch of ``total`` rows:
:class:`Draws` draws the numbers for all ``total`` rows and keeps its rows, exactly as
:class:`earthmover.losses.penalties.Shard` does for the penalties' interpolation coefficients. So N processes
apply the transforms one process would apply to the whole batch, and every generator advances alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from earthmover.errors import EarthmoverError


@dataclass
class Draws:
    """U[0, 1) numbers for rows ``[offset, offset + n)`` of a global batch of ``total`` rows.

    Args:
        generator: the caller's generator; it advances by the draws of the whole global batch.
        offset: the first global row this process holds.
        total: the global batch size (``None``: the rows asked for are the whole batch).
    """

    generator: torch.Generator
    offset: int = 0
    total: int | None = None

    def rand(self, shape: tuple[int, ...]) -> Tensor:
        """U[0, 1) numbers of ``shape``, its first dimension being this slice's rows (float32)."""
        n = shape[0]
        total = n if self.total is None else self.total
        if self.offset < 0 or self.offset + n > total:
            raise EarthmoverError(
                f"augmentation rows [{self.offset}, {self.offset + n}) lie outside the global batch of {total}; "
                f"pass offset and total so that offset + batch <= total"
            )
        full = torch.rand((total, *shape[1:]), generator=self.generator, device=self.generator.device)
        return full[self.offset : self.offset + n]


def as_draws(source, offset: int = 0, total: int | None = None):
    """A random source with ``.rand(shape)``: a :class:`Draws` around a ``torch.Generator``, or the object
    itself when it already has ``rand`` (a :class:`Draws`, or a penalties ``Shard``)."""
    if isinstance(source, torch.Generator):
        return Draws(source, offset, total)
    if hasattr(source, "rand"):
        return source
    raise EarthmoverError(
        f"augmentations draw from a torch.Generator the caller passes, got {type(source).__name__}; "
        f"pass torch.Generator().manual_seed(SEED) (or the run's own generator)"
    )


def uniform(source, n: int, like: Tensor) -> Tensor:
    """(n,) U[0, 1) numbers on ``like``'s device, in float32."""
    return source.rand((n,)).to(like.device)


def integers(source, n: int, low: int, high: int, like: Tensor) -> Tensor:
    """(n,) integers uniform in ``[low, high)``: ``floor(u (high - low)) + low`` computed in float64, where the
    product of a float32 ``u < 1`` and a small integer is exact, so ``high`` is never reached."""
    u = source.rand((n,)).to(like.device, torch.float64)
    return (u * (high - low)).floor().long() + low
