"""InfoGAN's latent: incompressible noise plus structured codes (Chen et al. 2016).

The generator reads one flat vector ``[noise, one_hot(c_1), ..., one_hot(c_k), continuous]``;
the Q head is asked to recover the codes from the generated sample. The defaults are the
paper's MNIST ones (``openai/InfoGAN``, launchers/run_mnist_exp.py): 62 noise dimensions, one
10-way categorical code and two continuous codes uniform on [-1, 1].

The paper (and its code) draws the noise uniformly on [-1, 1] too; here the noise follows the
library's convention, N(0, I) (so truncation applies), unless ``noise_prior="uniform"``.

All draws come from an explicit ``torch.Generator`` in a fixed order (noise, then each
categorical code, then the continuous codes), so a run and its resume draw the same latents:

    spec = CodeSpec()
    codes = sample_codes(64, spec, torch.Generator().manual_seed(0))
    fake = generator(codes.latent())
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from earthmover.data.prior import sample_latent
from earthmover.errors import EarthmoverError

NOISE_PRIORS = ("normal", "uniform")


@dataclass(frozen=True)
class CodeSpec:
    """What the latent is made of."""

    noise_dim: int = 62
    """Incompressible noise z (>= 0)."""
    categorical: tuple[int, ...] = (10,)
    """Number of values of each categorical code (each >= 2); () for none."""
    continuous: int = 2
    """Number of continuous codes (>= 0)."""
    continuous_range: float = 1.0
    """Continuous codes are uniform on [-continuous_range, continuous_range]."""
    noise_prior: str = "normal"
    """normal: N(0, I) (the library's convention); uniform: U(-1, 1) (the paper's code)."""

    def __post_init__(self):
        object.__setattr__(self, "categorical", tuple(int(k) for k in self.categorical))
        if self.noise_dim < 0 or self.continuous < 0:
            raise EarthmoverError(
                f"InfoGAN codes: noise_dim = {self.noise_dim} and continuous = {self.continuous} must be >= 0"
            )
        if any(k < 2 for k in self.categorical):
            raise EarthmoverError(
                f"InfoGAN codes: categorical = {list(self.categorical)}; each categorical code needs at least 2 values"
            )
        if not self.categorical and not self.continuous:
            raise EarthmoverError(
                "InfoGAN codes: no categorical and no continuous code; set categorical = [10] or continuous = 2"
            )
        if not self.continuous_range > 0:
            raise EarthmoverError(f"InfoGAN codes: continuous_range = {self.continuous_range} must be > 0")
        if self.noise_prior not in NOISE_PRIORS:
            raise EarthmoverError(
                f"InfoGAN codes: noise_prior = {self.noise_prior!r}; expected one of {', '.join(NOISE_PRIORS)}"
            )

    @property
    def code_dim(self) -> int:
        """Width of the codes in the latent vector (one-hot categorical + continuous)."""
        return sum(self.categorical) + self.continuous

    @property
    def latent_dim(self) -> int:
        """Width of the generator's input."""
        return self.noise_dim + self.code_dim

    @property
    def q_dim(self) -> int:
        """Width of the Q head's output: logits for each categorical code, a mean per continuous code."""
        return sum(self.categorical) + self.continuous


@dataclass
class LatentCodes:
    """One batch of InfoGAN latents, kept apart so the Q head's targets are at hand."""

    noise: Tensor
    """(N, noise_dim) float."""
    categorical: Tensor
    """(N, len(spec.categorical)) long, the index of each categorical code."""
    continuous: Tensor
    """(N, spec.continuous) float."""
    spec: CodeSpec = field(repr=False, default_factory=CodeSpec)

    def __len__(self) -> int:
        return self.noise.shape[0]

    def latent(self) -> Tensor:
        """The generator's input: ``[noise, one_hot(c_1), ..., continuous]``, (N, spec.latent_dim)."""
        parts = [self.noise]
        for j, k in enumerate(self.spec.categorical):
            parts.append(F.one_hot(self.categorical[:, j], k).to(self.noise.dtype))
        parts.append(self.continuous.to(self.noise.dtype))
        return torch.cat(parts, dim=1)


def sample_codes(
    n: int, spec: CodeSpec, generator: torch.Generator | None = None, truncation: float | None = None
) -> LatentCodes:
    """Draw ``n`` latents: noise, then each categorical code (uniform over its values), then the
    continuous codes (uniform). ``truncation`` applies to normal noise only (the codes carry meaning)."""
    if n < 1:
        raise EarthmoverError(f"sample_codes: n = {n}; expected at least 1 sample")
    if spec.noise_prior == "normal":
        noise = sample_latent(n, spec.noise_dim, generator, truncation)
    else:
        noise = torch.rand(n, spec.noise_dim, generator=generator) * 2 - 1
    cat = [torch.randint(k, (n,), generator=generator) for k in spec.categorical]
    categorical = torch.stack(cat, dim=1) if cat else torch.zeros(n, 0, dtype=torch.long)
    r = spec.continuous_range
    continuous = (torch.rand(n, spec.continuous, generator=generator) * 2 - 1) * r
    return LatentCodes(noise, categorical, continuous, spec)


def split_latent(z: Tensor, spec: CodeSpec) -> LatentCodes:
    """The inverse of :meth:`LatentCodes.latent` (categorical codes read back by argmax)."""
    if z.dim() != 2 or z.shape[1] != spec.latent_dim:
        raise EarthmoverError(
            f"split_latent: a latent of shape {tuple(z.shape)}; expected (N, {spec.latent_dim}) for {spec}"
        )
    noise, rest = z[:, : spec.noise_dim], z[:, spec.noise_dim :]
    cats = []
    for k in spec.categorical:
        cats.append(rest[:, :k].argmax(dim=1))
        rest = rest[:, k:]
    categorical = torch.stack(cats, dim=1) if cats else torch.zeros(z.shape[0], 0, dtype=torch.long)
    return LatentCodes(noise, categorical, rest, spec)


def code_sweep(
    spec: CodeSpec,
    noise: Tensor | None = None,
    categorical_index: int = 0,
    continuous_index: int = 0,
    columns: int = 9,
    low: float = -2.0,
    high: float = 2.0,
    generator: torch.Generator | None = None,
) -> LatentCodes:
    """The latents of ``earthmover sample --code-sweep``: a grid whose rows are the values of categorical
    code ``categorical_index`` and whose columns sweep continuous code ``continuous_index`` linearly from
    ``low`` to ``high`` (beyond the training range [-1, 1], as in the paper's figures). Every cell shares one
    noise vector (drawn from ``generator`` unless given) and holds the other codes at their first value / 0.
    Row-major: cell (r, c) is sample ``r * columns + c``."""
    if not spec.categorical:
        raise EarthmoverError("code_sweep: the run has no categorical code to put on the rows; set infogan.categorical")
    if not 0 <= categorical_index < len(spec.categorical):
        raise EarthmoverError(
            f"code_sweep: categorical_index = {categorical_index}; the run has {len(spec.categorical)} categorical "
            "codes"
        )
    if spec.continuous and not 0 <= continuous_index < spec.continuous:
        raise EarthmoverError(
            f"code_sweep: continuous_index = {continuous_index}; the run has {spec.continuous} continuous codes"
        )
    rows = spec.categorical[categorical_index]
    cols = columns if spec.continuous else 1
    n = rows * cols
    if noise is None:
        noise = sample_codes(1, spec, generator).noise
    noise = noise.reshape(1, spec.noise_dim).expand(n, spec.noise_dim).clone()
    categorical = torch.zeros(n, len(spec.categorical), dtype=torch.long)
    categorical[:, categorical_index] = torch.arange(rows).repeat_interleave(cols)
    continuous = torch.zeros(n, spec.continuous)
    if spec.continuous:
        continuous[:, continuous_index] = torch.linspace(low, high, cols).repeat(rows)
    return LatentCodes(noise, categorical, continuous, spec)
