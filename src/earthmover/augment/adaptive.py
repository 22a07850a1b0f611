"""ADA's controller of the augmentation probability (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data", section 3; ``training_loop.py`` of stylegan2-ada-pytorch).

The overfitting heuristic is ``r_t = E[sign(D(x_real))]``, averaged over the real batches of an interval of
``interval`` steps; after each interval ``p`` moves by a fixed step toward more augmentation when ``r_t``
exceeds the target and toward less when it falls below, and is clamped to [0, 1]. The step is sized so that
``p`` can go from 0 to 1 within ``kimg`` thousand real images: ``step = batch * interval / (kimg * 1000)``.
ADA's numbers: target 0.6, interval 4 steps, kimg 500; with a batch of 64, ``step = 64 * 4 / 500000 =
0.000512`` per interval, 1953 intervals (7812 steps) from 0 to 1.

A caution for Wasserstein critics: ``sign(D(x))`` reads the score's offset, which a Wasserstein loss leaves
free (only differences of scores matter). ADA's heuristic is meaningful for logits (non-saturating, hinge);
with a WGAN critic it steers ``p`` only if something anchors the scores (WGAN-GP's drift term, for one).
"""

from __future__ import annotations

import torch
from torch import Tensor

from earthmover.errors import EarthmoverError

ADA_TARGET = 0.6
ADA_INTERVAL = 4
ADA_KIMG = 500


class AdaptiveP:
    """Moves an augmentation probability toward the target overfitting ratio, as ADA does.

    Args:
        batch_size: real images per step (the global batch under torchrun).
        target: the ``r_t`` to hold, in (0, 1) (ADA: 0.6).
        interval: steps between adjustments (ADA: 4).
        kimg: thousands of real images for ``p`` to go from 0 to 1 (ADA: 500).
        p: the starting probability (ADA starts at 0).

    Use: ``observe(critic_real_scores)`` in each critic step (no host read), then ``update()`` once per step;
    it reads the host once per interval and returns the new ``p``.
    """

    def __init__(
        self,
        batch_size: int,
        target: float = ADA_TARGET,
        interval: int = ADA_INTERVAL,
        kimg: float = ADA_KIMG,
        p: float = 0.0,
    ):
        if not 0.0 < float(target) < 1.0:
            raise EarthmoverError(
                f"augment.target = {target!r} is invalid; expected a value in (0, 1) (ADA uses 0.6): the share of "
                f"real images the critic scores positive"
            )
        if int(interval) < 1 or int(batch_size) < 1 or not float(kimg) > 0:
            raise EarthmoverError(
                f"adaptive augmentation needs batch_size >= 1, interval >= 1 and kimg > 0, got "
                f"{batch_size}, {interval}, {kimg}; ADA uses interval 4 and kimg 500"
            )
        if not 0.0 <= float(p) <= 1.0:
            raise EarthmoverError(f"augment.p = {p!r} is invalid; expected a probability in [0, 1]")
        self.target, self.interval, self.kimg = float(target), int(interval), float(kimg)
        self.batch_size, self.p = int(batch_size), float(p)
        self.rt: float | None = None
        self._steps = 0
        self._signs: Tensor | None = None  # [sum of signs, count], on the scores' device

    @property
    def step_size(self) -> float:
        """The change of ``p`` per interval: ``batch * interval / (kimg * 1000)``."""
        return self.batch_size * self.interval / (self.kimg * 1000.0)

    def observe(self, real_scores: Tensor) -> None:
        """Accumulate ``sign(D(x_real))`` of a real batch (detached; stays on the device)."""
        s = real_scores.detach().float().reshape(-1)
        stats = torch.stack([torch.sign(s).sum(), s.new_tensor(float(s.numel()))])
        self._signs = stats if self._signs is None else self._signs + stats

    def pending(self) -> Tensor | None:
        """The accumulated ``[sum of signs, count]``: under torchrun, all-reduce it (sum) before ``update``."""
        return self._signs

    def interval_ends(self) -> bool:
        """Whether the next :meth:`update` ends an interval (and reads the signs)."""
        return (self._steps + 1) % self.interval == 0 and self._signs is not None

    def update(self, signs: tuple[float, ...] | None = None) -> float:
        """Count a step; at the end of an interval, set ``rt`` and move ``p`` one step toward the target.
        ``signs``: ``[sum of signs, count]`` already read to the host with another value (else read here)."""
        self._steps += 1
        if self._steps % self.interval or self._signs is None:
            return self.p
        total, count = signs if signs is not None else (float(v) for v in self._signs.cpu())
        self._signs = None
        if count > 0:
            self.rt = total / count
            direction = (self.rt > self.target) - (self.rt < self.target)
            self.p = min(1.0, max(0.0, self.p + direction * self.step_size))
        return self.p

    def state_dict(self) -> dict:
        signs = None if self._signs is None else self._signs.detach().cpu().double()
        return {"p": self.p, "rt": self.rt, "steps": self._steps, "signs": signs, "target": self.target}

    def load_state_dict(self, state: dict) -> None:
        self.p, self.rt, self._steps = float(state["p"]), state.get("rt"), int(state["steps"])
        signs = state.get("signs")
        self._signs = None if signs is None else signs.float()
