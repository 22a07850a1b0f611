"""Critic heads: what a critic says beyond its score.

A head is a registered entry (:data:`earthmover.registry.HEADS`) that ``provides`` critic
outputs other entries ``need``. The builder adds every head whose outputs some objective or
penalty needs, and every head switched on in the config (``head.<name>``), never by name:

* ``critic`` names the kind of critic the head asks the architecture for (``"auto-encoder"``
  for a reconstruction), or is empty for a head that reads the critic's features;
* ``module(feature_dim)`` builds the head's own layers on the critic's features (class logits
  for AC-GAN, InfoGAN's Q), whose outputs land in ``CriticOutput.extras[<output>]``;
* ``critic_terms`` / ``generator_terms`` add the head's loss terms to each phase.

EBGAN's reconstruction is the one built-in head: it provides ``energy`` and ``codes`` by asking
for an auto-encoder critic, whose score is the reconstruction energy and whose features are
its codes. Class logits or a Q head are each one more entry like it, in a module of their own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from earthmover.registry import HEADS


@dataclass(frozen=True)
class Head:
    name: ClassVar[str] = ""
    switch: ClassVar[str | None] = "weight"
    """The field that switches it on (``head.<name>``); None for a head added only when needed."""
    provides: ClassVar[tuple[str, ...]] = ()
    critic: ClassVar[str] = ""
    """The kind of critic it asks the architecture for ("auto-encoder"), or "" for a plain one."""

    def module(self, feature_dim: int) -> nn.Module | None:
        """Layers on the critic's features whose outputs go to ``CriticOutput.extras`` (None: none)."""
        return None

    def critic_terms(self, real, fake) -> dict[str, Tensor]:
        return {}

    def generator_terms(self, fake) -> dict[str, Tensor]:
        return {}


@HEADS.register("reconstruction")
@dataclass(frozen=True)
class Reconstruction(Head):
    provides: ClassVar[tuple[str, ...]] = ("energy", "codes")
    critic: ClassVar[str] = "auto-encoder"
    switch: ClassVar[str | None] = None  # no config field: added when an objective needs an energy
