"""The trainer's steps compute what the textbook loop computes (issue 12).

A plain PyTorch step, written here the straightforward way (separate critic forwards for real and
fake, torch.autograd.grad for the WGAN-GP penalty, plain Adam), runs on copies of the trainer's
networks with the SAME draws: the real batch from a copy of the trainer's data stream, the
latents from a copy of its latent generator, the interpolation coefficients from a copy of its
penalty generator (the trainer draws real batch, then latents, then the penalty's points). The
loss terms and every gradient must agree to float tolerance, step after step (each reference
step starts from copies of the trainer's current networks and optimizer state). The weights after
Adam's step are not compared: where a gradient is near Adam's eps, float noise in it moves the
update by a good part of the learning rate, on either side. Whatever the trainer does to be fast
(one pass over real and fake, fused Adam, ...) must not change the maths.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from earthmover.nets.critic_output import as_critic_output
from earthmover.train.config import Config
from earthmover.train.loop import Trainer

TOL = dict(rtol=1e-4, atol=1e-6)


def _trainer(preset: str, **values) -> Trainer:
    config = Config.from_preset(
        preset,
        data__name="8gaussians",
        data__batch_size=32,
        model__width=64,
        model__depth=2,
        run__device="cpu",
        run__seed=3,
        **values,
    )
    return Trainer(config, None, quiet=True)


def _score(critic, x):
    return as_critic_output(critic(x)).score


def _clone_rng(g: torch.Generator) -> torch.Generator:
    out = torch.Generator()
    out.set_state(g.get_state())
    return out


def _reference_critic_step(trainer: Trainer, objective: str, gp: float):
    """One textbook critic step on copies, replaying the trainer's next draws. Returns the loss
    terms, the gradients and the weights after the step."""
    c = trainer.config
    G, D = copy.deepcopy(trainer.generator), copy.deepcopy(trainer.critic)
    stream = copy.deepcopy(trainer.stream)
    latent_rng, penalty_rng = _clone_rng(trainer.latent_rng), _clone_rng(trainer.penalty_rng)
    opt = torch.optim.Adam(D.parameters(), lr=c.optim.lr_d, betas=(c.optim.beta1, c.optim.beta2))
    # the optimizer's state so far (moments, step count) goes with the copy
    opt.load_state_dict(trainer.opt_d.state_dict())

    real = stream.next_batch()
    z = torch.randn(c.data.batch_size, trainer.latent_dim, generator=latent_rng)
    with torch.no_grad():
        fake = G(z)
    opt.zero_grad()
    d_real, d_fake = _score(D, real), _score(D, fake)
    if objective == "wasserstein":
        loss = d_fake.mean() - d_real.mean()
    else:
        loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    penalty = torch.zeros(())
    if gp:
        alpha = torch.rand(real.shape[0], 1, generator=penalty_rng)
        x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(_score(D, x_hat).sum(), x_hat, create_graph=True)
        penalty = gp * ((grad.norm(2, dim=1) - 1) ** 2).mean()
    (loss + penalty).backward()
    grads = [p.grad.clone() for p in D.parameters()]
    opt.step()
    return loss.detach(), penalty.detach(), grads, [p.detach().clone() for p in D.parameters()]


def _reference_generator_step(trainer: Trainer, objective: str):
    c = trainer.config
    G, D = copy.deepcopy(trainer.generator), copy.deepcopy(trainer.critic)
    latent_rng = _clone_rng(trainer.latent_rng)
    opt = torch.optim.Adam(G.parameters(), lr=c.optim.lr_g, betas=(c.optim.beta1, c.optim.beta2))
    opt.load_state_dict(trainer.opt_g.state_dict())
    z = torch.randn(c.data.batch_size, trainer.latent_dim, generator=latent_rng)
    D.requires_grad_(False)
    opt.zero_grad()
    d_fake = _score(D, G(z))
    loss = -d_fake.mean() if objective == "wasserstein" else F.softplus(-d_fake).mean()
    loss.backward()
    grads = [p.grad.clone() for p in G.parameters()]
    opt.step()
    return loss.detach(), grads, [p.detach().clone() for p in G.parameters()]


def _assert_close_lists(ours, theirs, what):
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        torch.testing.assert_close(a, b, **TOL, msg=lambda m, i=i: f"{what} {i}: {m}")


def _check_steps(trainer: Trainer, objective: str, gp: float, critic_steps: int = 3) -> None:
    for _ in range(critic_steps):  # several, so the optimizer's moments are exercised too
        loss, penalty, grads, weights = _reference_critic_step(trainer, objective, gp)
        values = trainer.critic_step()
        torch.testing.assert_close(values["loss/critic"], loss, **TOL)
        others = [v for k, v in values.items() if k.startswith("loss/") and k != "loss/critic"]
        if gp:
            assert len(others) == 1, values.keys()
            torch.testing.assert_close(others[0], penalty, **TOL)
        else:
            assert not others
        _assert_close_lists([p.grad for p in trainer.critic.parameters()], grads, "critic gradient")
    loss, grads, weights = _reference_generator_step(trainer, objective)
    values = trainer.generator_step()
    torch.testing.assert_close(values["loss/generator"], loss, **TOL)
    _assert_close_lists([p.grad for p in trainer.generator.parameters()], grads, "generator gradient")


def test_wgan_gp_step_matches_the_textbook_step():
    trainer = _trainer("wgan-gp", penalty__gp=10.0)
    _check_steps(trainer, "wasserstein", gp=10.0)


def test_non_saturating_step_matches_the_textbook_step():
    trainer = _trainer("dcgan")
    _check_steps(trainer, "non-saturating", gp=0.0)


def test_a_wrong_penalty_is_seen():
    """The comparison is sharp enough to see a penalty off by a few percent."""
    trainer = _trainer("wgan-gp", penalty__gp=10.0)
    with pytest.raises(AssertionError):
        _check_steps(trainer, "wasserstein", gp=10.5, critic_steps=1)
