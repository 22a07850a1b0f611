"""Critic penalties: extra critic terms that need the critic and its inputs.

Each is a small pure function ``penalty(critic, real, fake, ...) -> scalar``, and each is also
a registered entry (:class:`Penalty`, at the end of this module) that the training loop plugs in.
Conventions (each checked in tests/test_penalties.py):

* a per-sample gradient norm is taken over all non-batch dimensions,
  ``sqrt(sum(grad**2 over dims 1..) + eps)``; the epsilon inside the square root
  keeps a zero gradient from producing NaN in the backward pass;
* interpolation coefficients are drawn per sample, from an explicit ``torch.Generator``
  or, under torchrun, a :class:`Shard` that hands each process its slice of the numbers one
  process would draw for the whole batch (so N processes reproduce one);
* statistics over the batch (DRAGAN's standard deviation) are taken over the global batch;
* mixed precision follows PyTorch's AMP recipe for gradient penalties: the loop runs a penalty's
  forward and double backward under its autocast (bf16 or fp16), and with an enabled GradScaler
  (fp16) :func:`critic_input_gradient` scales the scores before ``autograd.grad`` and unscales the
  gradient after (the loop sets the scaler with :func:`gradient_scaler`; a loop of your own may pass
  ``scaler=``). The input gradient is cast to float32 before its norm, and every reduction
  (norms, means) is taken in float32.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from earthmover.nets.critic_output import as_critic_output, critic_scores
from earthmover.nets.progressive import drift_penalty
from earthmover.registry import PENALTIES, param

NORM_EPS = 1e-12
_SCALER: contextvars.ContextVar = contextvars.ContextVar("earthmover_penalty_scaler", default=None)


@contextlib.contextmanager
def gradient_scaler(scaler):
    """Within it, :func:`critic_input_gradient` scales by `scaler` (an enabled ``torch.amp.GradScaler``)
    when no ``scaler=`` is passed: how the loop hands its fp16 scaler to every penalty, plug-ins included."""
    token = _SCALER.set(scaler)
    try:
        yield
    finally:
        _SCALER.reset(token)


@dataclass
class Shard:
    """A penalty's random source when it sees one process's part of a global batch (torchrun):
    rank ``rank`` of ``world_size`` processes holds rows ``[rank * n, (rank + 1) * n)``.
    Pass it as a penalty's ``generator``: draws are this shard's slice of the numbers one
    process would draw for the whole batch (and leave ``generator`` where that process would
    leave it), and batch statistics are taken over every process, so N processes compute
    exactly what one process computes. The number of draws is never declared: it follows."""

    generator: torch.Generator
    rank: int = 0
    world_size: int = 1

    @property
    def device(self) -> torch.device:
        return self.generator.device

    def rand(self, shape: tuple[int, ...]) -> Tensor:
        """U[0, 1) numbers of `shape`, the first dimension being this shard's rows."""
        if self.world_size == 1:
            return torch.rand(shape, generator=self.generator, device=self.device)
        n = shape[0]
        full = torch.rand((n * self.world_size, *shape[1:]), generator=self.generator, device=self.device)
        return full[self.rank * n : (self.rank + 1) * n]

    def sum(self, value: Tensor) -> Tensor:
        """A (detached) statistic summed over processes."""
        if self.world_size == 1:
            return value
        import torch.distributed as dist

        total = value.detach().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total


def _rand(shape, generator, like: Tensor) -> Tensor:
    """U[0, 1) numbers from a Shard, a torch.Generator, or the global RNG (None)."""
    if isinstance(generator, Shard):
        return generator.rand(tuple(shape)).to(like)
    device = "cpu" if generator is None else generator.device
    return torch.rand(shape, generator=generator, device=device).to(like)


def batch_std(x: Tensor, generator=None) -> Tensor:
    """The standard deviation of all elements of a batch (unbiased, as ``Tensor.std()``);
    over the global batch when `generator` is a :class:`Shard` of several processes."""
    if not isinstance(generator, Shard) or generator.world_size == 1:
        return x.std()
    x = x.detach().double()
    stats = generator.sum(torch.stack([x.new_tensor(float(x.numel())), x.sum(), x.pow(2).sum()]))
    count, total, squares = stats[0], stats[1], stats[2]
    return ((squares - total * total / count) / (count - 1)).clamp(min=0).sqrt().to(torch.float32)


def per_sample_norm(grad: Tensor, eps: float = NORM_EPS) -> Tensor:
    """The (N,) L2 norms of `grad` over all non-batch dimensions, with eps inside the sqrt."""
    return torch.sqrt(grad.flatten(1).pow(2).sum(dim=1) + eps)


def critic_input_gradient(critic: torch.nn.Module, x: Tensor, create_graph: bool = True, scaler=None) -> Tensor:
    """d D(x_i) / d x_i for every sample, shape of x, in float32 (the critic scores samples
    independently, so the gradient of the summed scores is each sample's own gradient).

    For a loop of your own that scores under float16 autocast, pass its ``torch.amp.GradScaler``:
    following PyTorch's AMP recipe for gradient penalties, the scores are scaled before
    ``autograd.grad`` and the gradient unscaled after (``get_scale()`` reads the scale on the host).
    The training loop sets it with :func:`gradient_scaler` (fp16 only: bf16 has float32's range and
    needs no scaling, so it never waits on that read)."""
    scaler = scaler if scaler is not None else _SCALER.get()
    x = x.detach().float().requires_grad_(True)
    total = critic_scores(critic, x).float().sum()
    if scaler is not None and scaler.is_enabled():
        (grad,) = torch.autograd.grad(scaler.scale(total), x, create_graph=create_graph)
        return grad.float() / scaler.get_scale()
    (grad,) = torch.autograd.grad(total, x, create_graph=create_graph)
    return grad.float()


def uniform_per_sample(x: Tensor, generator=None) -> Tensor:
    """eps ~ U[0, 1] drawn once per sample, shaped to broadcast against x: (N, 1, 1, ...)."""
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    return _rand(shape, generator, x)


def interpolate(real: Tensor, fake: Tensor, generator=None) -> Tensor:
    """x^ = eps x + (1 - eps) x~, eps ~ U[0, 1] per sample (WGAN-GP)."""
    eps = uniform_per_sample(real, generator)
    return eps * real.detach() + (1.0 - eps) * fake.detach()


def perturb_near_data(real: Tensor, generator=None) -> Tensor:
    """Points near the data, as in the DRAGAN authors' code: x_p = x + 0.5 std(x) u with
    u ~ U[0,1] elementwise and std over the whole (global) batch; then x^ = x + alpha (x_p - x)
    with alpha ~ U[0,1] per sample."""
    real = real.detach()
    u = _rand(tuple(real.shape), generator, real)
    perturbed = real + 0.5 * batch_std(real, generator).to(real) * u
    alpha = uniform_per_sample(real, generator)
    return real + alpha * (perturbed - real)


def gradient_penalty(
    critic: torch.nn.Module,
    real: Tensor,
    fake: Tensor,
    *,
    weight: float = 10.0,
    target: float = 1.0,
    one_sided: bool = False,
    points: str = "between",
    generator=None,
    scaler=None,
) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): weight * E (||grad D(x^)||_2 - target)^2.

    ``points="between"`` draws x^ on lines between paired real and fake samples;
    ``points="near-data"`` draws them around the real data (DRAGAN).
    ``generator`` is a ``torch.Generator``, or a :class:`Shard` under torchrun.
    ``one_sided=True`` penalizes only norms above the target (WGAN-LP, Petzka et al. 2018):
    weight * E max(0, ||grad|| - target)^2.

    Args:
        critic: the critic; called on the penalty's points, it returns raw scores (or a ``CriticOutput``).
        real: a batch of real samples, (N, ...).
        fake: generated samples of the same shape (both batches are detached: the penalty trains the critic only).
        weight: lambda, the penalty's weight (the paper: 10).
        target: the gradient norm the penalty pulls toward (1 for a 1-Lipschitz critic).
        one_sided: penalize only norms above ``target``.
        points: ``"between"`` (one uniform coefficient per sample) or ``"near-data"``.
        generator: where the random coefficients come from, for reproducible runs.
        scaler: a ``torch.amp.GradScaler`` under float16 autocast (the gradient is taken scaled, then unscaled).

    Returns:
        A scalar tensor; the per-sample gradient norm is taken over all non-batch dimensions, with an epsilon
        inside the square root so a zero gradient gives no NaN.
    """
    if points == "between":
        x_hat = interpolate(real, fake, generator)
    elif points == "near-data":
        x_hat = perturb_near_data(real, generator)
    else:
        raise ValueError(f"points must be 'between' or 'near-data', got {points!r}")
    norms = per_sample_norm(critic_input_gradient(critic, x_hat, scaler=scaler))
    excess = norms - target
    if one_sided:
        excess = excess.clamp(min=0.0)
    return weight * excess.pow(2).mean()


def dragan_penalty(critic, real, fake=None, *, weight: float = 10.0, generator=None, scaler=None) -> Tensor:
    """DRAGAN (Kodali et al. 2017): the gradient penalty at points perturbed around real data."""
    return gradient_penalty(critic, real, real, weight=weight, points="near-data", generator=generator, scaler=scaler)


def r1_penalty(critic, real, fake=None, *, weight: float = 10.0, generator=None, scaler=None) -> Tensor:
    """R1 (Mescheder et al. 2018): gamma/2 E ||grad D(x)||^2 on real samples (gamma = weight)."""
    grad = critic_input_gradient(critic, real, scaler=scaler)
    return 0.5 * weight * grad.flatten(1).pow(2).sum(dim=1).mean()


def r2_penalty(critic, real, fake, *, weight: float = 10.0, generator=None, scaler=None) -> Tensor:
    """R2 (Mescheder et al. 2018): gamma/2 E ||grad D(x~)||^2 on fake samples."""
    grad = critic_input_gradient(critic, fake, scaler=scaler)
    return 0.5 * weight * grad.flatten(1).pow(2).sum(dim=1).mean()


def consistency_term(
    critic: torch.nn.Module, real: Tensor, fake=None, *, weight: float = 2.0, margin: float = 0.0, generator=None
) -> Tensor:
    """CT-GAN (Wei et al. 2018): two dropout passes x', x'' of the critic on the same real batch,

        CT = weight * E max(0, (D(x') - D(x''))^2 + 0.1 * mean_k (D_-1(x')_k - D_-1(x'')_k)^2 - margin)

    with D_-1 the penultimate features. The feature distance is the mean squared difference
    over features, as in the authors' code. The critic must be in training mode and use dropout;
    it must expose features through :class:`CriticOutput` for the second part.
    """
    first = as_critic_output(critic(real.detach()))
    second = as_critic_output(critic(real.detach()))
    term = (first.score.float() - second.score.float()).pow(2)
    if first.features is not None:
        # the same critic twice: the second pass has features when the first has (the type: ignore below)
        term = term + 0.1 * (first.features.float() - second.features.float()).pow(2).flatten(1).mean(dim=1)  # type: ignore[union-attr]
    return weight * (term - margin).clamp(min=0.0).mean()


# ---------------------------------------------------------------------------
# Entries the loop plugs in
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Penalty:
    """Base of a registered penalty. ``switch`` names the field that turns it on (its weight,
    ``penalty.<name>`` in the config; 0 = off); its other fields are ``penalty.<name>_<field>``.

    ``__call__(critic, real, fake, weight=, generator=)`` returns the scalar term, with ``weight``
    the configured weight times the lazy-regularization interval. ``generator`` is the penalty's
    random source (a :class:`Shard`): draw only through the functions of this module
    (``uniform_per_sample``, ``interpolate``, ``perturb_near_data``) or ``generator.rand``, and take
    batch statistics with ``batch_std`` or ``generator.sum``, so that processes agree exactly under
    torchrun."""

    name: ClassVar[str] = ""
    switch: ClassVar[str] = "weight"
    term: ClassVar[str] = ""
    """The loss term's name in the logs (``loss/<term>``); the entry's name when empty."""
    needs: ClassVar[tuple[str, ...]] = ("score",)
    lipschitz: ClassVar[bool] = False
    """True when it keeps the critic (roughly) Lipschitz, as a Wasserstein objective needs."""

    @property
    def log_name(self) -> str:
        return self.term or self.name

    def __call__(self, critic, real: Tensor, fake: Tensor, *, weight: float, generator=None) -> Tensor:
        raise NotImplementedError


@PENALTIES.register("gp")
@dataclass(frozen=True)
class GradientPenaltyTerm(Penalty):
    term: ClassVar[str] = "gradient_penalty"
    lipschitz: ClassVar[bool] = True
    weight: float = param(0.0, "Gradient penalty weight lambda (WGAN-GP; 0 = off)", min=0.0)
    target: float = param(1.0, "The gradient norm the penalty pulls toward", min=0.0)
    one_sided: bool = param(False, "Penalize only norms above the target (WGAN-LP)")
    points: str = param(
        "between", "Where to penalize: between (real and fake) | near-data", choices=("between", "near-data")
    )

    def __call__(self, critic, real, fake, *, weight, generator=None):
        return gradient_penalty(
            critic,
            real,
            fake,
            weight=weight,
            target=self.target,
            one_sided=self.one_sided,
            points=self.points,
            generator=generator,
        )


@PENALTIES.register("r1")
@dataclass(frozen=True)
class R1Term(Penalty):
    weight: float = param(0.0, "R1 weight gamma: gamma/2 E ||grad D(x)||^2 on real data (0 = off)", min=0.0)

    def __call__(self, critic, real, fake, *, weight, generator=None):
        return r1_penalty(critic, real, fake, weight=weight)


@PENALTIES.register("r2")
@dataclass(frozen=True)
class R2Term(Penalty):
    weight: float = param(0.0, "R2 weight gamma: gamma/2 E ||grad D(x~)||^2 on fakes (0 = off)", min=0.0)

    def __call__(self, critic, real, fake, *, weight, generator=None):
        return r2_penalty(critic, real, fake, weight=weight)


@PENALTIES.register("dragan")
@dataclass(frozen=True)
class DraganTerm(Penalty):
    lipschitz: ClassVar[bool] = True
    weight: float = param(0.0, "DRAGAN weight: the gradient penalty near the data (0 = off)", min=0.0)

    def __call__(self, critic, real, fake, *, weight, generator=None):
        return dragan_penalty(critic, real, fake, weight=weight, generator=generator)


@PENALTIES.register("consistency")
@dataclass(frozen=True)
class ConsistencyTerm(Penalty):
    needs: ClassVar[tuple[str, ...]] = ("score", "features", "dropout")
    lipschitz: ClassVar[bool] = True
    weight: float = param(0.0, "CT-GAN's lambda_2 (0 = off)", min=0.0)
    margin: float = param(0.0, "CT-GAN's margin M'", min=0.0)

    def __call__(self, critic, real, fake, *, weight, generator=None):
        return consistency_term(critic, real, fake, weight=weight, margin=self.margin)


@PENALTIES.register("drift")
@dataclass(frozen=True)
class DriftTerm(Penalty):
    """Karras et al. 2018: epsilon E[D(x)^2] on real scores, beside WGAN-GP, keeps the critic's
    output from drifting far from zero. It scores the real batch once more."""

    weight: float = param(
        0.0, "Drift term epsilon * E D(x)^2 on real scores (progressive growing: 0.001; 0 = off)", min=0.0
    )

    def __call__(self, critic, real, fake, *, weight, generator=None):
        return drift_penalty(critic_scores(critic, real), weight)
