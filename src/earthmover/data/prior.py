"""The latent prior: z ~ N(0, I), with the truncation trick."""

from __future__ import annotations

import torch


def sample_latent(
    n: int, dim: int, generator: torch.Generator | None = None, truncation: float | None = None
) -> torch.Tensor:
    """z ~ N(0, I) of shape (n, dim). With ``truncation=t``, every coordinate with |z| > t is
    redrawn until it falls inside (Brock et al. 2019's truncation trick): fewer, better samples."""
    z = torch.randn(n, dim, generator=generator)
    if truncation is not None:
        if truncation <= 0:
            raise ValueError(f"truncation must be > 0, got {truncation}")
        outside = z.abs() > truncation
        while outside.any():
            z[outside] = torch.randn(int(outside.sum()), generator=generator)
            outside = z.abs() > truncation
    return z
