"""Penalties: exact gradient norms on critics whose gradients we know, per-sample draws, no NaN at zero."""

import pytest
import torch
from torch import nn

from earthmover import penalties as P
from earthmover.nets.critic_output import CriticOutput


class Linear(nn.Module):
    """D(x) = w . x over all non-batch dimensions; its input gradient is w for every sample."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


class HalfSquare(nn.Module):
    """D(x) = 0.5 ||x||^2; grad = x, so the per-sample norm is ||x_i||."""

    def forward(self, x):
        return 0.5 * x.flatten(1).pow(2).sum(1)


def test_linear_critic_gradient_norm_is_norm_of_w():
    w = torch.tensor([3.0, 4.0])
    critic = Linear(w)
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    norms = P.per_sample_norm(P.critic_input_gradient(critic, P.interpolate(real, fake)))
    assert torch.allclose(norms, torch.full((16,), 5.0), atol=1e-6)
    gp = P.gradient_penalty(critic, real, fake, weight=10.0)
    assert abs(float(gp.detach()) - 10.0 * (5.0 - 1.0) ** 2) < 1e-4
    assert abs(float(P.gradient_penalty(critic, real, fake, weight=2.0, target=5.0).detach())) < 1e-6


def test_images_are_normed_per_sample_over_all_dimensions():
    torch.manual_seed(0)
    w = torch.randn(3, 4, 4)
    critic = Linear(w)
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    grad = P.critic_input_gradient(critic, P.interpolate(real, fake))
    assert grad.shape == (5, 3, 4, 4)
    norms = P.per_sample_norm(grad)
    assert norms.shape == (5,)
    assert torch.allclose(norms, w.norm().expand(5), rtol=1e-5)
    # neither per pixel nor over the whole batch
    assert not torch.allclose(norms, grad.norm().expand(5))


def test_penalty_uses_each_samples_own_norm():
    """With D = 0.5||x||^2 the norm at x^_i is ||x^_i||: the penalty is the mean of (||x^_i|| - 1)^2."""
    real, fake = torch.randn(8, 3) * 2, torch.randn(8, 3)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    x_hat = P.interpolate(real, fake, g1)
    expected = 10.0 * ((x_hat.norm(dim=1) - 1.0) ** 2).mean()
    got = P.gradient_penalty(HalfSquare(), real, fake, weight=10.0, generator=g2)
    assert abs(float(got.detach()) - float(expected)) < 1e-5


def test_interpolation_coefficient_is_drawn_per_sample():
    real, fake = torch.ones(64, 3, 2, 2), torch.zeros(64, 3, 2, 2)
    x_hat = P.interpolate(real, fake, torch.Generator().manual_seed(0))
    eps = x_hat.flatten(1)
    assert torch.all(eps == eps[:, :1])  # one coefficient within a sample
    assert eps[:, 0].unique().numel() == 64  # a different one for each sample
    # x^ = eps x + (1 - eps) x~ with eps the generator's own uniform draws, in order
    assert torch.equal(eps[:, 0], torch.rand(64, generator=torch.Generator().manual_seed(0)))


def test_zero_gradient_gives_no_nan():
    """D(x) = w ||x||^2 at x = 0: the input gradient 2 w x is exactly zero, and d||grad||/dw would be
    0 * inf = NaN without the epsilon inside the square root."""

    class Quadratic(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor(0.5))

        def forward(self, x):
            return self.w * x.flatten(1).pow(2).sum(1)

    critic = Quadratic()
    zeros = torch.zeros(4, 2)
    gp = P.gradient_penalty(critic, zeros, zeros, weight=10.0)
    assert abs(float(gp.detach()) - 10.0) < 1e-4  # (0 - 1)^2 * 10
    gp.backward()
    assert torch.isfinite(critic.w.grad)


def test_one_sided_penalty_ignores_small_gradients():
    small, large = Linear(torch.tensor([0.3, 0.4])), Linear(torch.tensor([1.2, 1.6]))
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    assert float(P.gradient_penalty(small, real, fake, one_sided=True).detach()) == 0.0
    assert abs(float(P.gradient_penalty(small, real, fake).detach()) - 10 * 0.25) < 1e-4
    assert abs(float(P.gradient_penalty(large, real, fake, one_sided=True).detach()) - 10 * 1.0) < 1e-4


def test_r1_and_r2_are_half_gamma_squared_norms():
    real, fake = torch.randn(10, 3), torch.randn(10, 3)
    critic = HalfSquare()
    assert abs(float(P.r1_penalty(critic, real, weight=4.0).detach()) - 2.0 * float(real.pow(2).sum(1).mean())) < 1e-4
    assert abs(float(P.r2_penalty(critic, real, fake, weight=4.0).detach()) - 2.0 * float(fake.pow(2).sum(1).mean())) < 1e-4


def test_dragan_points_lie_near_the_data():
    real = torch.randn(256, 2)
    pts = P.perturb_near_data(real, torch.Generator().manual_seed(0))
    step = (pts - real)
    assert float(step.min()) >= 0.0 and float(step.max()) <= 0.5 * float(real.std()) + 1e-6
    gp = P.dragan_penalty(Linear(torch.tensor([0.6, 0.8])), real, weight=10.0)
    assert abs(float(gp.detach())) < 1e-6  # unit-norm linear critic: nothing to penalize


def test_consistency_term_is_zero_without_dropout_and_positive_with_it():
    torch.manual_seed(0)

    class Drop(nn.Module):
        def __init__(self, p):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(p))
            self.out = nn.Linear(16, 1)

        def forward(self, x):
            h = self.body(x)
            return CriticOutput(self.out(h).squeeze(1), h)

    x = torch.randn(32, 2)
    assert float(P.consistency_term(Drop(0.0), x).detach()) == 0.0
    ct = P.consistency_term(Drop(0.5), x, weight=2.0)
    assert float(ct.detach()) > 0
    assert float(P.consistency_term(Drop(0.5), x, weight=2.0, margin=1e6).detach()) == 0.0


def test_consistency_term_exact_value_on_a_critic_with_known_passes():
    """A critic whose two passes return known scores and features: per sample the term is
    (d score)^2 + 0.1 x mean_k (d feature_k)^2, then weight x E max(0, term - margin)."""

    class TwoPasses(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0
            self.scores = [torch.tensor([1.0, 0.5, 0.0]), torch.tensor([0.0, 0.0, 0.0])]
            self.features = [torch.tensor([[2.0, 0.0], [0.0, 0.0], [0.0, 20.0 ** 0.5]]),
                             torch.zeros(3, 2)]

        def forward(self, x):
            i, self.calls = self.calls, self.calls + 1
            return CriticOutput(self.scores[i], self.features[i])

    # squared score differences (1, 0.25, 0); mean squared feature differences (2, 0, 10)
    # term = (1.2, 0.25, 1.0); minus margin 0.5 and clamped: (0.7, 0, 0.5); mean 0.4; times weight 2
    critic = TwoPasses()
    ct = P.consistency_term(critic, torch.zeros(3, 2), weight=2.0, margin=0.5)
    assert critic.calls == 2
    assert float(ct) == pytest.approx(0.8, rel=1e-6)
    # without features only the score part: (1, 0.25, 0) -> (0.5, 0, 0), mean 1/6, times 2
    critic = TwoPasses()
    critic.features = [None, None]
    assert float(P.consistency_term(critic, torch.zeros(3, 2), weight=2.0, margin=0.5)) == pytest.approx(1 / 3, rel=1e-6)


def test_gradient_penalty_gradient_reaches_the_critic_parameters():
    critic = Linear(torch.tensor([3.0, 4.0]))
    P.gradient_penalty(critic, torch.randn(4, 2), torch.randn(4, 2), weight=10.0).backward()
    # d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w|| = 20 * 4 * w / 5
    assert torch.allclose(critic.w.grad, 16.0 * torch.tensor([3.0, 4.0]), rtol=1e-4)
