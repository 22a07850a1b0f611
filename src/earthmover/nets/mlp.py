"""Multi-layer perceptrons for 2-D toy data (and any flat data).

The WGAN-GP paper's toy networks are 3 hidden ReLU layers of 512 units;
``width`` and ``depth`` set both. Critics use no normalization by default (a
gradient penalty is per sample, and batch statistics couple samples):
``norm="layer"`` gives layer normalization after each hidden layer, ``norm="batch"``
batch normalization (only without a penalty; the configuration refuses the pair).
"""

from __future__ import annotations

import torch
from torch import nn

from earthmover.nets.critic_output import CriticOutput
from earthmover.nets.layers import norm1d
from earthmover.nets.registry import Architecture, NetSpec, Reshape, register


def _hidden_stack(in_dim: int, width: int, depth: int, norm: str = "none", dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(depth):
        layers.append(nn.Linear(dim, width))
        if norm != "none":  # "batch" too: it used to be dropped silently
            layers.append(norm1d(norm, width))
        layers.append(nn.ReLU())
        if dropout:
            layers.append(nn.Dropout(dropout))
        dim = width
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (N, latent_dim) -> x (N, out_dim)."""

    def __init__(self, latent_dim: int = 2, out_dim: int = 2, width: int = 512, depth: int = 3):
        super().__init__()
        self.latent_dim = latent_dim
        self.body = _hidden_stack(latent_dim, width, depth)
        self.out = nn.Linear(width, out_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(z))


class MLPCritic(nn.Module):
    """x (N, in_dim) -> CriticOutput(score (N,), features = last hidden layer (N, width))."""

    def __init__(self, in_dim: int = 2, width: int = 512, depth: int = 3, norm: str = "none", dropout: float = 0.0):
        super().__init__()
        self.body = _hidden_stack(in_dim, width, depth, norm, dropout)
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> CriticOutput:
        h = self.body(x.flatten(1))
        return CriticOutput(score=self.out(h).squeeze(1), features=h)


class AutoEncoderCritic(nn.Module):
    """EBGAN's critic: an auto-encoder whose score is the energy
    E(x) = mean squared reconstruction error per sample, and whose features are the codes."""

    def __init__(
        self,
        in_dim: int = 2,
        width: int = 512,
        depth: int = 3,
        code_dim: int = 32,
        norm: str = "none",
        dropout: float = 0.0,
    ):
        super().__init__()
        self.encoder = nn.Sequential(_hidden_stack(in_dim, width, depth, norm, dropout), nn.Linear(width, code_dim))
        self.decoder = nn.Sequential(_hidden_stack(code_dim, width, depth, norm, dropout), nn.Linear(width, in_dim))

    def forward(self, x: torch.Tensor) -> CriticOutput:
        flat = x.flatten(1)
        code = self.encoder(flat)
        energy = (self.decoder(code) - flat).pow(2).mean(dim=1)
        return CriticOutput(score=energy, features=code)


# ---------------------------------------------------------------------- registration (model.arch)


def _mlp_generator(spec: NetSpec) -> nn.Module:
    net = MLPGenerator(spec.latent_dim, spec.numel, spec.width, spec.depth)
    return Reshape(net, spec.sample_shape, squash=True) if spec.is_image else net


def _mlp_critic(spec: NetSpec) -> nn.Module:
    if spec.auto_encoder:
        return AutoEncoderCritic(spec.numel, spec.width, spec.depth, norm=spec.critic_norm, dropout=spec.dropout)
    return MLPCritic(spec.numel, spec.width, spec.depth, spec.critic_norm, spec.dropout)


register(
    Architecture(
        "mlp",
        "fully connected ReLU layers of `width` units, `depth` of them: 3x512 on flat data (the WGAN-GP toy "
        "networks), 4x512 with a tanh output on images (the WGAN/WGAN-GP MLP generator); any sample shape",
        _mlp_generator,
        _mlp_critic,
        latent_dim=100,
        width=512,
        images=True,
        flat=True,
        flat_latent_dim=2,
        image_depth=4,
    )
)
