"""Gradient accumulation: K micro-batches weighted by their shares give the whole batch's gradients."""

import pytest
import torch
from torch import nn

from earthmover import objectives, penalties
from earthmover.errors import EarthmoverError
from earthmover.train.accumulate import accumulate_gradients, check_accumulable, micro_batches


def critic(norm=None):
    torch.manual_seed(0)
    layers = [nn.Linear(2, 32), *([norm] if norm is not None else []), nn.LeakyReLU(0.2), nn.Linear(32, 1)]
    return nn.Sequential(*layers)


def wgan_gp_loss(d, real, fake, draws):
    """A WGAN-GP critic loss with two draws per step (instance noise on the reals, then the penalty's
    coefficients), so that each micro-batch must take its rows of each global draw."""
    real = real + 0.1 * (draws.rand(tuple(real.shape)) - 0.5)
    loss = objectives.wasserstein_critic_loss(d(real), d(fake))
    return loss + penalties.gradient_penalty(d, real, fake, weight=10.0, generator=draws)


def grads(d):
    return torch.cat([p.grad.flatten() for p in d.parameters()])


def full_batch(d, real, fake, seed):
    d.zero_grad()
    g = torch.Generator().manual_seed(seed)
    loss = wgan_gp_loss(d, real, fake, penalties.Shard(g))
    loss.backward()
    return loss.detach(), grads(d), g.get_state()


@pytest.mark.parametrize("k", [1, 2, 4, 5])  # 5 does not divide 64: shares 13/64 and 12/64
def test_micro_batch_gradients_of_a_wgan_gp_step_equal_the_whole_batch(k):
    d = critic()
    real = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    fake = torch.randn(64, 2, generator=torch.Generator().manual_seed(2)) * 2
    loss, expected, state = full_batch(d, real, fake, seed=7)
    d.zero_grad()
    g = torch.Generator().manual_seed(7)
    accumulated = accumulate_gradients(lambda xs, draws: wgan_gp_loss(d, *xs, draws), [real, fake], k, g)
    # to 1e-6 relative to the largest gradient: float32 sums in another order differ by a few ulps (~1e-6 of 5)
    assert (grads(d) - expected).abs().max() < 1e-6 * expected.abs().max()
    assert abs(accumulated - loss) < 1e-6 * abs(loss)
    assert torch.equal(g.get_state(), state)  # the generator moves as one whole-batch step moves it


def test_unweighted_or_fresh_draws_would_differ():
    """The two things the helper gets right, each shown to matter."""
    d = critic()
    real = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    fake = torch.randn(64, 2, generator=torch.Generator().manual_seed(2)) * 2
    _, expected, _ = full_batch(d, real, fake, seed=7)
    d.zero_grad()
    g = torch.Generator().manual_seed(7)
    for first, size in micro_batches(64, 4):  # fresh draws per micro-batch, weighted correctly
        part = slice(first, first + size)
        (wgan_gp_loss(d, real[part], fake[part], penalties.Shard(g)) * size / 64).backward()
    assert (grads(d) - expected).abs().max() > 1e-4


def test_micro_batches_cover_the_batch_once():
    assert micro_batches(10, 3) == [(0, 4), (4, 3), (7, 3)]
    assert micro_batches(8, 1) == [(0, 8)]
    with pytest.raises(EarthmoverError, match="run.accumulate = 9"):
        micro_batches(8, 9)
    with pytest.raises(EarthmoverError, match="run.accumulate = 0"):
        micro_batches(8, 0)


def test_refused_beside_batch_statistics_and_allowed_with_layer_norm():
    with pytest.raises(EarthmoverError, match="run.accumulate = 2 is refused"):
        check_accumulable(critic(nn.BatchNorm1d(32)), 2)
    check_accumulable(critic(nn.BatchNorm1d(32)), 1)
    check_accumulable(critic(nn.LayerNorm(32)), 4)
