"""Periodic side work, as a list of (interval, hook) that ``Trainer.fit`` walks after each step,
in the manner of stylegan2-ada's training loop: logging, image metrics, snapshots, checkpoints.
A hook never touches the training state (it samples in eval mode from its own seeds)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Hook:
    name: str
    every: int
    """Run after every `every`-th step (0 = never, except at the end when `at_end`)."""
    fn: Callable[[dict], None]
    """Called with the step's values (device tensors)."""
    at_end: bool = False
    """Also run after the last step (else never at the last step: the end of fit does that work)."""

    def due(self, step: int, total: int) -> bool:
        if step == total:
            return self.at_end or False
        return bool(self.every) and step % self.every == 0
