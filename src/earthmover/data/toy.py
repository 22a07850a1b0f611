"""2-D toy distributions, as in the WGAN-GP paper's toy experiments and the lectures.

Every sampler draws from an explicit ``torch.Generator`` so runs are reproducible.

| name          | what                                                                                        |
|---------------|---------------------------------------------------------------------------------------------|
| 8gaussians    | 8 modes on a circle of radius 2/sqrt(2) = 1.414 (angles k*45 deg), std 0.02/sqrt(2) = 0.01414 |
| 25gaussians   | 5x5 grid, centers (2i, 2j)/2.828 for i, j in -2..2 (spacing 0.7071), std 0.05/2.828 = 0.01768 |
| swissroll     | scikit-learn's swiss roll (noise 0.25), coordinates (x, z) / 7.5                             |
| ring          | a continuous circle of radius 1, radial std 0.05                                            |
| checkerboard  | uniform on the 8 dark squares of a 4x4 board on [-2, 2]^2                                   |
| parallel-lines| P_0 of the WGAN paper's example: x = 0, y ~ U(0, 1) (``ParallelLines(theta)`` for P_theta)    |

The two mixtures match ``gan_toy.py`` of the WGAN-GP authors (scale 2, stds 0.02 and 0.05,
then divided by 1.414 and 2.828). Mixtures carry their centers, weights and std, which the
mixture measures (:mod:`earthmover.metrics.mixtures`) use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from earthmover.registry import Registry


@dataclass(frozen=True)
class GaussianMixture:
    name: str
    centers: torch.Tensor  # (K, 2)
    std: float
    weights: torch.Tensor  # (K,), sums to 1

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        idx = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        return self.centers[idx] + self.std * torch.randn(n, 2, generator=generator)

    @property
    def num_modes(self) -> int:
        return self.centers.shape[0]


def eight_gaussians() -> GaussianMixture:
    s = 1.0 / math.sqrt(2)
    unit = [(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)]
    centers = torch.tensor(unit, dtype=torch.float32) * 2.0 / 1.414
    return GaussianMixture("8gaussians", centers, 0.02 / 1.414, torch.full((8,), 1 / 8))


def twenty_five_gaussians() -> GaussianMixture:
    grid = [(2.0 * i, 2.0 * j) for i in range(-2, 3) for j in range(-2, 3)]
    centers = torch.tensor(grid, dtype=torch.float32) / 2.828
    return GaussianMixture("25gaussians", centers, 0.05 / 2.828, torch.full((25,), 1 / 25))


@dataclass(frozen=True)
class SwissRoll:
    name: str = "swissroll"
    noise: float = 0.25

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        # scikit-learn's make_swiss_roll formula, drawn from our generator.
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
        pts = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
        return (pts + self.noise * torch.randn(n, 2, generator=generator)) / 7.5


@dataclass(frozen=True)
class Ring:
    name: str = "ring"
    radius: float = 1.0
    std: float = 0.05

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        angle = 2 * math.pi * torch.rand(n, generator=generator)
        r = self.radius + self.std * torch.randn(n, generator=generator)
        return torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1)


@dataclass(frozen=True)
class Checkerboard:
    name: str = "checkerboard"

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        x1 = torch.rand(n, generator=generator) * 4 - 2
        x2 = torch.rand(n, generator=generator) - 2 * torch.randint(0, 2, (n,), generator=generator)
        x2 = x2 + torch.floor(x1) % 2
        return torch.stack([x1, x2], dim=1)


@dataclass(frozen=True)
class ParallelLines:
    """P_theta of the WGAN paper's example 1: x = theta, y ~ U(0, 1).

    Closed forms against P_0: W = |theta|, JS = log 2, KL = +inf, TV = 1 for theta != 0.
    """

    theta: float = 0.0
    name: str = "parallel-lines"

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        y = torch.rand(n, generator=generator)
        return torch.stack([torch.full_like(y, self.theta), y], dim=1)


TOY_DISTRIBUTIONS: Registry[Callable[[], Any]] = Registry(
    "toy distribution", "2-D distributions a run names with data.name: factories of objects with .sample(n, generator)"
)
"""Factories by name; ``make_toy(name)`` calls one. A plug-in registers its own with
``@TOY_DISTRIBUTIONS.register("name")`` on a factory whose result has ``sample(n, generator) -> (n, 2)``."""

for _name, _factory in [
    ("8gaussians", eight_gaussians),
    ("25gaussians", twenty_five_gaussians),
    ("swissroll", SwissRoll),
    ("ring", Ring),
    ("checkerboard", Checkerboard),
    ("parallel-lines", ParallelLines),
]:
    TOY_DISTRIBUTIONS.register(_name, _factory)


def make_toy(name: str):
    """A fresh instance of the toy distribution `name` (EarthmoverError naming the nearest one when unknown)."""
    return TOY_DISTRIBUTIONS[name]()
