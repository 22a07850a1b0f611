"""A run's augmentation (issue 22): DiffAugment's policy on every critic input, its own generator, ADA's p.

Where it applies (DiffAugment's recipe, Zhao et al. 2020; :mod:`earthmover.augment.policy`): in the critic
phase the real batch and the fake batch are each augmented, and the critic, the objective and the penalties
all see the augmented batches: a penalty's points are taken between augmented reals and augmented fakes, as
the authors' code takes them. In the generator phase the fakes are augmented before the critic, with the
generator's gradient passing through the transforms. Draw order per step: real then fake in each critic
step, then the generator step's fakes.

Draws come from a generator of their own, seeded from ``run.seed`` with a stream number no other generator
uses (:data:`AUGMENT_STREAM`), so a run without augmentation draws exactly what it drew before. Each process
takes its rows of the global batch's draws (``offset``, ``total``), so N processes apply what one would.

Adaptive p (``augment.target > 0``): :class:`~earthmover.augment.AdaptiveP` observes ``sign(D(real))`` in each
critic step (on the device) and moves p at the end of each interval, after averaging the signs over the
processes: one host read per interval (not per step), and every process applies the same p.
"""

from __future__ import annotations

import torch

from earthmover.augment import AdaptiveP, Augment
from earthmover.errors import EarthmoverError

AUGMENT_STREAM = 11
"""The derived-seed stream of the augmentation generator (1: data, 2: latents, 3: penalties, 7, 10: measures)."""


class RunAugment:
    """The augmentation of one run: the policy, its generator, ADA's controller of p.

    Args:
        config: the run's config (its ``augment`` section).
        seed: the augmentation generator's seed.
        images_per_step: real images per generator step over all processes (the global batch times
            ``optim.n_critic``), for ADA's step size ``images_per_step * interval / (kimg * 1000)``.
    """

    def __init__(self, config, seed: int, images_per_step: int):
        a = config.augment
        # ADA starts at p = 0 and adapts it; a fixed p is DiffAugment's (1 by default)
        self.adaptive = AdaptiveP(images_per_step, a.target, a.interval, a.kimg, p=0.0) if a.target else None
        self.augment = Augment(a.policy, p=self.adaptive.p if self.adaptive else a.p)
        self.rng = torch.Generator().manual_seed(seed)

    @property
    def p(self) -> float:
        return self.augment.p

    def __call__(self, x: torch.Tensor, offset: int, total: int) -> torch.Tensor:
        """Rows ``[offset, offset + len(x))`` of a global batch of ``total``, augmented with the run's draws."""
        return self.augment(x, self.rng, offset=offset, total=total)

    def with_draws(self, x: torch.Tensor, draws) -> torch.Tensor:
        """``x`` augmented with numbers from ``draws`` (a micro-batch's slice of the run's generator)."""
        return self.augment(x, draws)

    def observe(self, real_scores: torch.Tensor) -> None:
        if self.adaptive is not None:
            self.adaptive.observe(real_scores)

    def signs_to_read(self, ctx) -> torch.Tensor | None:
        """At an interval's end, the ``[sum of signs, count]`` averaged over processes (one all-reduce, on
        the device; the ratio is the global r_t), to be read with the step's flags; else None."""
        if self.adaptive is None or not self.adaptive.interval_ends():
            return None
        return ctx.mean(self.adaptive.pending())

    def end_step(self, read: list[float] | None) -> dict[str, torch.Tensor]:
        """Count a step; at an interval's end, move p from the signs read with the step's flags. Returns
        what the step logs (:meth:`values`)."""
        if self.adaptive is not None:
            self.augment.p = self.adaptive.update(tuple(read) if read else None)
        return self.values()

    def values(self) -> dict[str, torch.Tensor]:
        """What the log records: aug/p, and aug/rt once an interval has ended."""
        out = {"aug/p": torch.tensor(self.p)}
        if self.adaptive is not None and self.adaptive.rt is not None:
            out["aug/rt"] = torch.tensor(self.adaptive.rt)
        return out

    def reseed(self, seed: int) -> None:
        self.rng.manual_seed(seed)

    def state_dict(self) -> dict:
        return {
            "policy": self.augment.state_dict(),
            "rng": self.rng.get_state(),
            "adaptive": self.adaptive.state_dict() if self.adaptive is not None else None,
        }

    def load_state_dict(self, state: dict | None) -> None:
        if state is None:
            raise EarthmoverError(
                f"the checkpoint was trained without augmentation, this run asks for --augment.policy "
                f"{','.join(self.augment.policy)}; resume without it, or start a new run from it with --init"
            )
        self.augment.load_state_dict(state["policy"])
        self.rng.set_state(state["rng"])
        if self.adaptive is not None and state.get("adaptive") is not None:
            self.adaptive.load_state_dict(state["adaptive"])
            self.augment.p = self.adaptive.p
