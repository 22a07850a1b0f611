"""Constraints on the critic's weights: clipping after each step, spectral normalization.

Both are ways to keep the critic (roughly) Lipschitz, which the Wasserstein
objective needs for -critic loss to estimate the earth mover's distance.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

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

    For a convolution the normalized matrix is the kernel reshaped to (out, in*k*k), as in the paper.
    Returns the module (modified in place).
    """
    for layer in list(module.modules()):
        if isinstance(layer, NORMALIZED_LAYERS) and not parametrize.is_parametrized(layer, "weight"):
            spectral_norm(layer, n_power_iterations=n_power_iterations)
    return module


def largest_singular_values(module: nn.Module) -> list[float]:
    """sigma_max of each linear/conv layer's (effective) weight, reshaped to a matrix."""
    values = []
    for layer in module.modules():
        if isinstance(layer, NORMALIZED_LAYERS):
            w = layer.weight.detach()
            values.append(float(torch.linalg.matrix_norm(w.flatten(1), ord=2)))
    return values
