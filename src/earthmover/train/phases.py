"""The maths of a step's phases that the :class:`~earthmover.train.loop.Trainer` walks: the critic's and the
generator's loss terms on a batch or a micro-batch, the critic's scores, and what issue 22 adds to them.

Augmentation (``augment.policy``; :mod:`earthmover.train.augmenting`): in the critic phase the real and the
fake batch are each augmented before anything sees them, so the critic, the objective and the penalties all
take augmented batches: a penalty's points lie between augmented reals and augmented fakes, as in
DiffAugment's own code. In the generator phase the fakes are augmented before the critic, inside the graph,
so the generator's gradient passes through the transforms. Each process augments its rows of the global
batch with its slice of the global batch's draws.

Gradient accumulation (``run.accumulate K``; :mod:`earthmover.train.accumulate`): the critic phase splits its
(augmented) batches into K micro-batches, each backpropagated with its share, the penalty's draws being the
whole batch's; the generator phase runs the generator once on the whole batch (so its batch norm sees what
it sees unaccumulated) and the critic on K micro-batches of a detached copy, then one backward through the
generator. :meth:`Trainer.optimizer_step` zeroes once, runs the K backwards, then unscales and steps.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import torch

from earthmover.data.labels import bind_labels
from earthmover.data.latent import Draw
from earthmover.errors import EarthmoverError
from earthmover.losses.objectives import Scored
from earthmover.losses.penalties import gradient_scaler
from earthmover.nets.critic_output import as_critic_output
from earthmover.train.accumulate import accumulate_gradients, micro_batches

if TYPE_CHECKING:
    from earthmover.losses.objectives import Objective
    from earthmover.train.augmenting import RunAugment
    from earthmover.train.build import Plan
    from earthmover.train.config import Config
    from earthmover.train.distributed import DistributedContext


class Phases:
    """The phase maths of the Trainer (a mixin: it reads the Trainer's networks, plan and generators)."""

    # the Trainer's attributes that the phases read (set in Trainer.__init__)
    config: Config
    ctx: DistributedContext
    plan: Plan
    objective: Objective
    penalties: list
    critic: torch.nn.Module
    critic_ddp: torch.nn.Module
    critic_takes_labels: bool
    critic_couples: bool
    batch_size: int
    accumulate: int
    augment: RunAugment | None
    scaler_d: torch.amp.GradScaler

    if TYPE_CHECKING:

        def _autocast(self) -> AbstractContextManager: ...

    def _critic_terms(self, real, fake, draw: Draw, penalize: bool, penalty_draws) -> dict[str, torch.Tensor]:
        """The critic's loss terms on a (micro-)batch, and the objective's estimate under ``_estimate``."""
        real_out, fake_out = self._score_real_and_fake(real, fake, draw)
        if self.augment is not None:
            self.augment.observe(real_out.score)  # ADA's sign(D(real)), kept on the device
        real_s = Scored(real, real_out, labels=draw.labels)
        fake_s = Scored(fake, fake_out, labels=draw.labels, codes=draw.codes)
        terms = self.objective.critic_loss(real_s, fake_s)
        for head in self.plan.heads:
            add_terms(terms, head.critic_terms(real_s, fake_s), head)
        every = self.config.penalty.every
        if penalize:
            # a conditional critic, seen by the penalties as a critic of samples alone: real and fake share labels
            critic = bind_labels(self.critic, draw.labels if self.critic_takes_labels else None)
            with self._autocast(), gradient_scaler(self.scaler_d):  # AMP recipe; norms in float32
                for term in self.penalties:  # lazy: every k steps, scaled by k
                    w = term.weight * every
                    terms[term.log_name] = term(critic, real, fake, weight=w, generator=penalty_draws).float()
        terms["_estimate"] = self.objective.estimate(real_s, fake_s)
        return terms

    def _accumulated(self, terms_of, inputs: tuple, draw: Draw, extra, generator, terms: dict):
        """The step's loss as a callable for :meth:`optimizer_step`: K micro-batches of this process's rows,
        each backpropagated with its share (:func:`earthmover.train.accumulate.accumulate_gradients`); `terms`
        receives the step's terms (the micro-batches' weighted sum). Random draws are the whole batch's."""
        n = inputs[0].shape[0]
        offset = self.ctx.rows(self.batch_size).start or 0

        def run(scaler) -> torch.Tensor:
            parts = iter(micro_batches(n, self.accumulate))

            def loss_of(xs, draws) -> torch.Tensor:
                first, size = next(parts)
                micro = terms_of(*xs, draw.rows(slice(first, first + size)), extra, draws)
                for k, v in micro.items():
                    terms[k] = terms.get(k, 0.0) + v.detach() * (size / n)
                return sum(v for k, v in micro.items() if k != "_estimate")

            return accumulate_gradients(
                loss_of,
                inputs,
                self.accumulate,
                generator,
                offset=offset,
                total=self.batch_size,
                rows=n,
                backward=lambda loss: scaler.scale(loss).backward(),
            )

        return run

    def _augmented(self, x: torch.Tensor) -> torch.Tensor:
        """This process's rows of a global batch, augmented (its slice of the global batch's draws)."""
        offset = self.ctx.rows(self.batch_size).start or 0
        return self.augment(x, offset, self.batch_size)  # type: ignore[misc]  # called only when augment is set

    def _accumulated_generator_loss(self, fake: torch.Tensor, draw: Draw):
        """Accumulated generator step: the generator runs once on the whole batch (its batch norm sees the
        batch it sees unaccumulated), the critic on K micro-batches of a detached copy whose gradient is
        gathered, then one backward through the generator: the step's gradients, B/K samples of critic
        activations at a time."""
        leaf = fake.detach().requires_grad_(True)
        terms: dict = {}
        rng = self.augment.rng if self.augment is not None else torch.Generator()
        micro = self._accumulated(self._generator_terms, (leaf,), draw, None, rng, terms)

        def run(scaler) -> torch.Tensor:
            loss = micro(scaler)  # the scaled gradients of the micro-batches' losses, gathered in leaf.grad
            fake.backward(leaf.grad)
            return loss

        return run, terms

    def _generator_terms(self, fake, draw: Draw, _extra, draws) -> dict[str, torch.Tensor]:
        """The generator's loss terms on a (micro-)batch of fakes, augmented before the critic (the
        generator's gradient passes through the transforms)."""
        with self._autocast():
            if self.augment is not None:
                fake = self._augmented(fake) if draws is None else self.augment.with_draws(fake, draws)
            out = as_critic_output(self.critic(fake, *self._critic_labels(draw))).part(slice(None))
        fake_s = Scored(fake.float(), out, labels=draw.labels, codes=draw.codes)
        terms = self.objective.generator_loss(fake_s)
        for head in self.plan.heads:
            add_terms(terms, head.generator_terms(fake_s), head)
        return terms

    def _score_real_and_fake(self, real: torch.Tensor, fake: torch.Tensor, draw: Draw):
        """The critic's outputs on the real and the fake batch: one pass over both, or two when the
        critic looks at the whole minibatch (so neither batch's statistics reach the other's scores)."""
        with self._autocast():
            if self.critic_couples:
                return (
                    as_critic_output(self.critic_ddp(real, *self._critic_labels(draw))).part(slice(None)),
                    as_critic_output(self.critic_ddp(fake, *self._critic_labels(draw))).part(slice(None)),
                )
            both = as_critic_output(self.critic_ddp(torch.cat([real, fake]), *self._critic_labels(draw, draw)))
        n = real.shape[0]
        return both.part(slice(None, n)), both.part(slice(n, None))

    def _critic_labels(self, *draws: Draw) -> tuple:
        """The critic's label argument for batches of these draws: () for a critic of samples alone."""
        return (
            (torch.cat([d.labels for d in draws]),)  # type: ignore[misc]  # a conditional critic's draws carry labels
            if self.critic_takes_labels
            else ()
        )


def add_terms(terms: dict, more: dict, head) -> None:
    """A head's loss terms beside the objective's and the penalties' (each logged as loss/<name>)."""
    clash = set(more) & set(terms)
    if clash:
        raise EarthmoverError(
            f"head.{head.name} returns the loss term {sorted(clash)[0]!r}, which another entry "
            f"already uses; give the head's terms names of their own (e.g. {head.name}_...)"
        )
    terms.update(more)
