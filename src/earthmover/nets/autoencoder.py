"""EBGAN's critic for any registered image architecture: an auto-encoder whose score is the energy.

The encoder is the architecture's critic trunk (its features), a linear layer makes the code, and
the decoder is the architecture's generator built from the code, with the critic's normalization:
a critic trained with a gradient penalty holds no batch statistics, decoder included.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from earthmover.nets.critic_output import CriticOutput


class AutoEncoderCritic(nn.Module):
    """x -> CriticOutput(score = mean squared reconstruction error per sample, features = codes)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, code_dim: int = 64):
        super().__init__()
        trunk: Any = encoder  # any critic with features() and feature_dim: structural, not a base class
        trunk.out = None  # the score layer: unused here (DDP refuses parameters that get no gradient)
        self.encoder = trunk
        self.to_code = nn.Linear(trunk.feature_dim, code_dim)
        self.decoder = decoder

    def forward(self, x: torch.Tensor) -> CriticOutput:
        code = self.to_code(self.encoder.features(x))
        energy = (self.decoder(code) - x).pow(2).flatten(1).mean(dim=1)
        return CriticOutput(score=energy, features=code)
