"""Critic heads: what a critic says beyond its score.

A head is a registered entry (:data:`earthmover.registry.HEADS`) that ``provides`` critic
outputs that it, an objective or a penalty reads. The builder adds every head switched on in
the config (``head.<name>``, its weight) and every head whose outputs some objective or
penalty ``needs``, never by name. A head declares:

* ``critic``: the kind of critic it asks the architecture for (``"auto-encoder"`` for a
  reconstruction), or "" for a plain one;
* ``needs``: the critic outputs it reads (``"features"`` for a head on the critic's trunk), checked
  against the *built* critic (:func:`earthmover.train.build.build_critic`);
* ``module(feature_dim, data)``: its own layers on the critic's (flattened) features, or None.
  The builder attaches them to the critic (:class:`HeadedCritic`), so they are trained by the
  critic's optimizer, saved in its checkpoint and synchronized by DDP; their outputs land in
  ``CriticOutput.extras[name]`` under the head's first ``provides`` name (or under each key of
  a dict the module returns);
* ``critic_terms(real, fake)`` / ``generator_terms(fake)``: its loss terms (on
  :class:`earthmover.losses.objectives.Scored` batches), which the loop adds to each phase's loss and logs
  as ``loss/<term>``.

EBGAN's reconstruction is the built-in head with no module: it provides ``energy`` and ``codes``
by asking for an auto-encoder critic, whose score is the reconstruction energy and whose
features are its codes. Class logits (AC-GAN) or InfoGAN's Q are each one more entry with a
module, in a module of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from earthmover.nets.critic_output import CriticOutput, as_critic_output
from earthmover.registry import HEADS


@dataclass(frozen=True)
class DataInfo:
    """What a head's layers may depend on besides the critic's features."""

    sample_shape: tuple[int, ...]
    num_classes: int = 0
    """Classes of a labelled source (0: no labels)."""


@dataclass(frozen=True)
class Head:
    name: ClassVar[str] = ""
    switch: ClassVar[str | None] = "weight"
    """The field that switches it on (``head.<name>``); None for a head added only when needed."""
    provides: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[tuple[str, ...]] = ()
    critic: ClassVar[str] = ""
    """The kind of critic it asks the architecture for ("auto-encoder"), or "" for a plain one."""
    takes_labels: ClassVar[bool] = False
    """True when its run conditions the generator on class labels and batches carry them (AC-GAN)."""

    def codes(self):
        """The latent codes it adds to the generator's input (an :class:`earthmover.data.codes.CodeSpec`,
        InfoGAN's), or None."""
        return None

    def module(self, feature_dim: int, data: DataInfo) -> nn.Module | None:
        """Layers on the critic's features whose outputs go to ``CriticOutput.extras`` (None: none)."""
        return None

    def critic_terms(self, real, fake) -> dict[str, Tensor]:
        """Loss terms added to the critic's loss (names must not clash with the objective's)."""
        return {}

    def generator_terms(self, fake) -> dict[str, Tensor]:
        """Loss terms added to the generator's loss."""
        return {}


class HeadedCritic(nn.Module):
    """A critic with heads on its trunk: ``trunk(x)`` gives the score and features, each head's
    layers map the flattened features to ``extras``. One forward pass for all of them."""

    def __init__(self, trunk: nn.Module, heads: dict[str, tuple[nn.Module, tuple[str, ...]]]):
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleDict({name: module for name, (module, _) in heads.items()})
        self.outputs = {name: provides for name, (_, provides) in heads.items()}

    def forward(self, x: Tensor, *labels: Tensor) -> CriticOutput:
        out = as_critic_output(self.trunk(x, *labels))
        features = out.features.flatten(1)  # type: ignore[union-attr]  # a headed critic's trunk gives features
        extras = dict(out.extras)
        for name, layers in self.heads.items():
            value = layers(features)
            extras.update(value if isinstance(value, dict) else {self.outputs[name][0]: value})
        return CriticOutput(out.score, out.features, extras)


def feature_dim(critic: nn.Module, sample_shape: tuple[int, ...], takes_labels: bool = False) -> int | None:
    """The width of the (flattened) features the critic returns for one sample, or None when it
    returns only a score. One forward pass of two zero samples in eval mode without gradients:
    no batch-norm statistics, spectral-norm vectors or dropout draws change, so building a run
    twice gives the same run. Works on the meta device (a size count allocates nothing)."""
    mode = critic.training
    critic.eval()
    first = next(critic.parameters(), None)
    try:
        with torch.no_grad():
            probe = torch.zeros(2, *sample_shape, device=first.device if first is not None else None)
            labels = (torch.zeros(2, dtype=torch.long, device=probe.device),) if takes_labels else ()
            out = as_critic_output(critic(probe, *labels))
    finally:
        critic.train(mode)
    return None if out.features is None else int(out.features[0].numel())


@HEADS.register("reconstruction")
@dataclass(frozen=True)
class Reconstruction(Head):
    provides: ClassVar[tuple[str, ...]] = ("energy", "codes")
    critic: ClassVar[str] = "auto-encoder"
    switch: ClassVar[str | None] = None  # no config field: added when an objective needs an energy
