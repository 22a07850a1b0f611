"""Latent priors, the truncation trick, and what a generator reads (z, labels, InfoGAN codes)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from earthmover.data.codes import CodeSpec, LatentCodes, sample_codes
from earthmover.data.prior import sample_latent

__all__ = ["Draw", "LatentSpace", "sample_latent"]


@dataclass
class Draw:
    """One batch of generator inputs: the latent z, and, for the runs that use them, the class
    labels the generator is asked for and InfoGAN's codes (which are also inside z)."""

    z: torch.Tensor
    labels: torch.Tensor | None = None
    codes: LatentCodes | None = None

    def inputs(self) -> tuple[torch.Tensor, ...]:
        """The generator's arguments: ``(z,)`` or ``(z, labels)``."""
        return (self.z,) if self.labels is None else (self.z, self.labels)

    def rows(self, rows: slice) -> Draw:
        """A slice of the batch (this process's share under torchrun)."""
        codes = None
        if self.codes is not None:
            c = self.codes
            codes = type(c)(c.noise[rows], c.categorical[rows], c.continuous[rows], c.spec)
        return Draw(self.z[rows], None if self.labels is None else self.labels[rows], codes)

    def to(self, device) -> Draw:
        codes = None
        if self.codes is not None:
            c = self.codes
            moved = (t.to(device, non_blocking=True) for t in (c.noise, c.categorical, c.continuous))
            codes = type(c)(*moved, c.spec)  # type: ignore[call-arg,arg-type]  # three tensors, then the spec
        return Draw(
            self.z.to(device, non_blocking=True),
            None if self.labels is None else self.labels.to(device, non_blocking=True),
            codes,
        )


@dataclass(frozen=True)
class LatentSpace:
    """What a generator reads and how it is drawn: ``dim`` normal coordinates; with ``num_classes``
    a class label too (a conditional generator); with ``codes`` (InfoGAN) z is noise plus codes,
    drawn by :func:`earthmover.data.codes.sample_codes`. A plain space draws exactly
    :func:`sample_latent`, so unconditional runs are unchanged."""

    dim: int
    num_classes: int = 0
    codes: CodeSpec | None = None

    def draw(
        self,
        n: int,
        generator: torch.Generator | None = None,
        truncation: float | None = None,
        labels: torch.Tensor | None = None,
    ) -> Draw:
        """n inputs; labels are drawn uniformly (after z) unless given."""
        codes = None
        if self.codes is not None:
            codes = sample_codes(n, self.codes, generator, truncation)
            z = codes.latent()
        else:
            z = sample_latent(n, self.dim, generator, truncation)
        if not self.num_classes:
            return Draw(z, None, codes)
        if labels is None:
            labels = torch.randint(self.num_classes, (n,), generator=generator)
        return Draw(z, labels.long(), codes)
