"""Measures for samples of a Gaussian mixture (the toy experiments).

* modes covered: a mode counts when it is the nearest mode of at least one high-quality sample;
* high-quality fraction: samples within ``k`` standard deviations (default 3) of their nearest mode;
* reverse KL of the generated mode histogram (high-quality samples, by nearest mode) to the
  true mode weights, KL(p_gen || p_true); +inf when no sample is high quality.

As in VEEGAN and PacGAN's 2-D tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from earthmover.data.toy import GaussianMixture


@dataclass(frozen=True)
class MixtureReport:
    modes_covered: int
    num_modes: int
    high_quality: float  # fraction in [0, 1]
    reverse_kl: float
    num_samples: int
    std_radius: float

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return f"modes {self.modes_covered}/{self.num_modes}, high quality {100 * self.high_quality:.1f}%"


def mixture_measures(samples: torch.Tensor, mixture: GaussianMixture, std_radius: float = 3.0) -> MixtureReport:
    samples = samples.detach().float().cpu()
    dist = torch.cdist(samples, mixture.centers)
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= std_radius * mixture.std
    counts = torch.bincount(nearest[good], minlength=mixture.num_modes).double()
    covered = int((counts > 0).sum())
    total = counts.sum()
    if total == 0:
        reverse_kl = float("inf")
    else:
        p = counts / total
        q = mixture.weights.double()
        mask = p > 0
        reverse_kl = float((p[mask] * (p[mask] / q[mask]).log()).sum())
    return MixtureReport(
        modes_covered=covered,
        num_modes=mixture.num_modes,
        high_quality=float(good.double().mean()) if len(samples) else 0.0,
        reverse_kl=reverse_kl,
        num_samples=len(samples),
        std_radius=std_radius,
    )
