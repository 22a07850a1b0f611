"""Critic penalties: extra critic terms that need the critic and its inputs.

Each is a small pure function ``penalty(critic, real, fake, ...) -> scalar``.
Conventions (see DESIGN.md):

* a per-sample gradient norm is taken over all non-batch dimensions,
  ``sqrt(sum(grad**2 over dims 1..) + eps)``; the epsilon inside the square root
  keeps a zero gradient from producing NaN in the backward pass;
* interpolation coefficients are drawn per sample, from an explicit ``torch.Generator``;
* penalties are computed in float32.
"""
from __future__ import annotations

import torch
from torch import Tensor

from earthmover.nets.critic_output import as_critic_output, critic_scores

NORM_EPS = 1e-12


def per_sample_norm(grad: Tensor, eps: float = NORM_EPS) -> Tensor:
    """The (N,) L2 norms of `grad` over all non-batch dimensions, with eps inside the sqrt."""
    return torch.sqrt(grad.flatten(1).pow(2).sum(dim=1) + eps)


def critic_input_gradient(critic: torch.nn.Module, x: Tensor, create_graph: bool = True, scaler=None) -> Tensor:
    """d D(x_i) / d x_i for every sample, shape of x (the critic scores samples independently).

    Under mixed precision pass the run's ``torch.amp.GradScaler``: following PyTorch's recipe for
    gradient penalties, the scores are scaled before ``autograd.grad`` (so small gradients do not
    underflow in float16) and the gradient is unscaled after, in float32.
    """
    x = x.detach().float().requires_grad_(True)
    scores = critic_scores(critic, x)
    total = scores.float().sum()
    if scaler is not None and scaler.is_enabled():
        (grad,) = torch.autograd.grad(scaler.scale(total), x, create_graph=create_graph)
        return grad.float() / scaler.get_scale()
    (grad,) = torch.autograd.grad(total, x, create_graph=create_graph)
    return grad.float()


def uniform_per_sample(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """eps ~ U[0, 1] drawn once per sample, shaped to broadcast against x: (N, 1, 1, ...)."""
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    return torch.rand(shape, generator=generator, device="cpu" if generator is None else generator.device).to(x)


def interpolate(real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """x^ = eps x + (1 - eps) x~, eps ~ U[0, 1] per sample (WGAN-GP)."""
    eps = uniform_per_sample(real, generator)
    return eps * real.detach() + (1.0 - eps) * fake.detach()


def perturb_near_data(real: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Points near the data, as in the DRAGAN authors' code: x_p = x + 0.5 std(x) u with
    u ~ U[0,1] elementwise and std over the whole batch; then x^ = x + alpha (x_p - x)
    with alpha ~ U[0,1] per sample."""
    real = real.detach()
    u = torch.rand(real.shape, generator=generator, device="cpu" if generator is None else generator.device).to(real)
    perturbed = real + 0.5 * real.std() * u
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
    generator: torch.Generator | None = None,
    scaler=None,
) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): weight * E (||grad D(x^)||_2 - target)^2.

    ``points="between"`` draws x^ on lines between paired real and fake samples;
    ``points="near-data"`` draws them around the real data (DRAGAN).
    ``one_sided=True`` penalizes only norms above the target (WGAN-LP, Petzka et al. 2018):
    weight * E max(0, ||grad|| - target)^2.
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
    term = (first.score - second.score).pow(2)
    if first.features is not None:
        term = term + 0.1 * (first.features - second.features).pow(2).flatten(1).mean(dim=1)
    return weight * (term - margin).clamp(min=0.0).mean()
