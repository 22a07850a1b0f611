"""Constraints on the critic's weights: clipping after each step, spectral normalization.

Both are ways to keep the critic (roughly) Lipschitz, which the Wasserstein
objective needs for -critic loss to estimate the earth mover's distance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from earthmover.registry import CONSTRAINTS, param

NORMALIZED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)


@torch.no_grad()
def clip_weights(module: nn.Module, c: float = 0.01) -> None:
    """WGAN (Arjovsky et al. 2017): clamp every parameter to [-c, c].

    Call it *after* the optimizer step, so that the weights the critic is evaluated
    with are always inside the box.
    """
    for p in module.parameters():
        p.clamp_(-c, c)


def apply_spectral_norm(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Spectral normalization (Miyato et al. 2018) of every linear and convolutional layer,
    through PyTorch's own parametrization (``torch.nn.utils.parametrizations.spectral_norm``).

    For a convolution the normalized matrix is the kernel reshaped to (out, in*k*k), as in the paper;
    a transposed convolution's weight is stored (in, out, k, k), so its output dimension is 1.
    Returns the module (modified in place).
    """
    for layer in list(module.modules()):
        if isinstance(layer, NORMALIZED_LAYERS) and not parametrize.is_parametrized(layer, "weight"):
            spectral_norm(layer, n_power_iterations=n_power_iterations, dim=_output_dim(layer))
    return module


def _output_dim(layer: nn.Module) -> int:
    """The weight dimension of the layer's outputs: 1 for transposed convolutions (PyTorch's
    spectral_norm uses the same rule), 0 otherwise."""
    return 1 if isinstance(layer, nn.modules.conv._ConvTransposeNd) else 0


def largest_singular_values(module: nn.Module) -> list[float]:
    """sigma_max of each linear/conv layer's (effective) weight, reshaped to the matrix
    (outputs, everything else) that spectral normalization divides by its largest singular value."""
    values = []
    for layer in module.modules():
        if isinstance(layer, NORMALIZED_LAYERS):
            w = layer.weight.detach()
            dim = _output_dim(layer)
            if dim:
                w = w.movedim(dim, 0)
            values.append(float(torch.linalg.matrix_norm(w.flatten(1), ord=2)))
    return values


# ---------------------------------------------------------------------------
# Entries the loop plugs in
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    """Base of a registered constraint on the critic's weights. ``switch`` names the field that
    turns it on (``constraint.<name>`` in the config). ``apply`` runs once on the built critic
    (a parametrization), ``after_step`` after every critic optimizer step."""

    name: ClassVar[str] = ""
    switch: ClassVar[str] = "value"
    lipschitz: ClassVar[bool] = False
    """True when it keeps the critic (roughly) Lipschitz, as a Wasserstein objective needs."""

    def apply(self, critic: nn.Module) -> nn.Module:
        return critic

    def after_step(self, critic: nn.Module) -> None:
        pass


@CONSTRAINTS.register("clip")
@dataclass(frozen=True)
class Clip(Constraint):
    lipschitz: ClassVar[bool] = True
    value: float = param(0.0, "Clip every critic weight to [-c, c] after each critic step (0 = off)", min=0.0)

    def after_step(self, critic):
        clip_weights(critic, self.value)


@CONSTRAINTS.register("spectral_norm")
@dataclass(frozen=True)
class SpectralNorm(Constraint):
    lipschitz: ClassVar[bool] = True
    value: bool = param(False, "Spectral normalization of every critic layer (SN-GAN)")

    def apply(self, critic):
        return apply_spectral_norm(critic)
