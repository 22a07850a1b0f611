"""Gradient accumulation: one step's batch of B taken as K micro-batches whose gradients add up to the step's.

The maths: a step's losses are means over its batch (the critic's ``E D(x~) - E D(x)``, the penalty's
``weight * E (||grad D(x^)|| - 1)^2``). Split into micro-batches of ``m_k`` rows with ``sum m_k = B``, the
mean over the batch is ``sum_k (m_k / B) * mean over micro-batch k``; so backpropagating each micro-batch's
loss weighted by its share ``m_k / B`` accumulates, in ``.grad``, exactly the gradient of the whole batch
(up to float rounding), while only ``B / K`` samples' activations are alive at once.

Random draws: a penalty's interpolation coefficients (and an augmentation's parameters) must be the numbers
the whole batch would take. Each micro-batch restarts the generator where the step found it and takes its
rows of the global draw (:class:`MicroBatchDraws`, a :class:`~earthmover.losses.penalties.Shard` whose rows are an
offset and a count); after the last micro-batch the generator stands where one whole-batch step leaves it.
Under torchrun, pass the process's offset within the global batch and the global size.

Where it must be refused (:func:`check_accumulable`): a critic whose output for one sample depends on the
others, i.e. batch normalization (statistics over B/K instead of B), minibatch discrimination and minibatch
standard deviation (their comparisons see only B/K samples): accumulated, those compute another function,
not the same one in pieces. Likewise a penalty that takes a statistic over the batch (DRAGAN's standard
deviation of the real batch in ``points="near-data"``) would see one micro-batch only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from earthmover.errors import EarthmoverError
from earthmover.losses.penalties import Shard
from earthmover.nets.minibatch import couples_samples


def micro_batches(batch_size: int, k: int) -> list[tuple[int, int]]:
    """(offset, size) of K contiguous micro-batches covering ``batch_size`` rows, sizes differing by at most
    one (the first ``batch_size % k`` take one row more)."""
    if int(k) < 1 or int(k) > int(batch_size):
        raise EarthmoverError(
            f"run.accumulate = {k!r} is invalid; expected an integer from 1 to the batch size {batch_size} "
            f"(each micro-batch needs at least one sample)"
        )
    base, extra = divmod(int(batch_size), int(k))
    out, offset = [], 0
    for i in range(int(k)):
        size = base + (i < extra)
        out.append((offset, size))
        offset += size
    return out


def check_accumulable(critic: nn.Module, k: int) -> None:
    """Refuse ``k > 1`` beside layers that couple the samples of a batch (their statistics would change)."""
    if k > 1 and (coupled := couples_samples(critic)):
        raise EarthmoverError(
            f"run.accumulate = {k} is refused: the critic's {', '.join(coupled[:3])} take statistics over the batch, "
            f"which micro-batches of B/{k} would change; use layer norm or none, or drop --run.accumulate"
        )


@dataclass
class MicroBatchDraws(Shard):
    """A penalty's (or augmentation's) random source for rows ``[offset, offset + n)`` of a global batch of
    ``total`` rows: each draw takes the numbers for all ``total`` rows and keeps its own. Pass it as the
    ``generator`` of a penalty."""

    offset: int = 0
    total: int = 0

    def rand(self, shape: tuple[int, ...]) -> Tensor:
        full = torch.rand((self.total, *shape[1:]), generator=self.generator, device=self.device)
        return full[self.offset : self.offset + shape[0]]


def accumulate_gradients(
    loss_of: Callable[[Sequence[Tensor], MicroBatchDraws], Tensor],
    inputs: Sequence[Tensor],
    k: int,
    generator: torch.Generator,
    offset: int = 0,
    total: int | None = None,
    *,
    rows: int | None = None,
    backward: Callable[[Tensor], None] | None = None,
) -> Tensor:
    """Backpropagate ``loss_of(micro_inputs, draws)`` for K micro-batches of ``inputs`` (tensors sharing their
    first dimension), each weighted by its share of the batch; returns the step's loss (detached).

    Args:
        loss_of: the step's loss on a micro-batch, a mean over its rows, drawing through ``draws``.
        inputs: the batch's tensors (real, fake, labels, ...), rows aligned.
        k: the number of micro-batches.
        generator: the step's generator; left where one whole-batch step would leave it.
        offset: this process's first row in the global batch (torchrun), 0 alone.
        total: the global batch size (default: this batch's).
        rows: the rows the step's loss is a mean over (default ``total``; under DistributedDataParallel, which
            averages the processes' gradients, this process's rows).
        backward: how a micro-batch's loss is backpropagated (default ``loss.backward()``; a grad scaler's
            ``lambda loss: scaler.scale(loss).backward()``).
    """
    n = inputs[0].shape[0]
    total = n if total is None else int(total)
    rows = total if rows is None else int(rows)
    start = generator.get_state()
    step_loss = torch.zeros((), device=inputs[0].device)
    for first, size in micro_batches(n, k):
        generator.set_state(start)
        draws = MicroBatchDraws(generator, offset=offset + first, total=total)
        loss = loss_of([x[first : first + size] for x in inputs], draws) * (size / rows)
        loss.backward() if backward is None else backward(loss)
        step_loss = step_loss + loss.detach()
    return step_loss
