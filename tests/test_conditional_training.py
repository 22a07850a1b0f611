"""The conditional pieces compose into a few training steps on the MNIST fixture, the way the one
loop will use them (labels bound for the penalty, fakes detached in the critic step only, the
heads' terms added to each phase): AC-GAN's classifier learns the digits, InfoGAN's bound rises."""

from pathlib import Path

import numpy as np
import pytest
import torch

from earthmover.data.codes import sample_codes
from earthmover.data.labels import LabelEmbedding, bind_labels
from earthmover.losses.acgan import ClassHead
from earthmover.losses.infogan import InfoGANParams, QHead, mutual_information_bound
from earthmover.losses.objectives import (
    minimax_critic_loss,
    non_saturating_generator_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from earthmover.losses.penalties import gradient_penalty
from earthmover.nets.conditional import ConcatGenerator, ProjectionCritic
from earthmover.nets.mlp import MLPCritic, MLPGenerator

FIXTURE = Path(__file__).parent / "data" / "mnist_small.npz"


@pytest.fixture(scope="module")
def mnist():
    d = np.load(FIXTURE)
    x = torch.from_numpy(d["x_train"]).float().div(127.5).sub(1.0).flatten(1)  # (512, 784) in [-1, 1]
    return x, torch.from_numpy(d["y_train"]).long()


def adam(*modules, lr=1e-3):
    return torch.optim.Adam([p for m in modules for p in m.parameters()], lr=lr, betas=(0.5, 0.9))


def test_projection_and_acgan_with_wgan_gp(mnist):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = mnist
    rng = torch.Generator().manual_seed(1)
    emb = LabelEmbedding(10)
    g = ConcatGenerator(MLPGenerator(16 + emb.dim, 784, 64, 2), emb, latent_dim=16)
    critic = ProjectionCritic(MLPCritic(784, 64, 2), num_classes=10, feature_dim=64)
    head = ClassHead(64, 10)
    d_opt, g_opt = adam(critic, head), adam(g)
    accuracy = []
    for _ in range(80):
        idx = torch.randint(len(x), (32,), generator=rng)
        real, labels = x[idx], y[idx]
        fake = g(torch.randn(32, 16, generator=rng), labels).detach()  # fakes carry the real batch's labels
        real_out, fake_out = critic(real, labels), critic(fake, labels)
        loss = (
            wasserstein_critic_loss(real_out.score, fake_out.score)
            + gradient_penalty(bind_labels(critic, labels), real, fake, generator=rng)
            + sum(head.critic_terms(real_out, labels, fake_out, labels).values())
        )
        d_opt.zero_grad()
        loss.backward()
        d_opt.step()
        accuracy.append(head.accuracy(real_out, labels).item())
        wanted = torch.randint(10, (32,), generator=rng)
        out = critic(g(torch.randn(32, 16, generator=rng), wanted), wanted)
        g_loss = wasserstein_generator_loss(out.score) + sum(head.generator_terms(out, wanted).values())
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        assert loss.isfinite() and g_loss.isfinite()
    # the class head shares the critic's trunk and learns the real digits (chance 0.1; 0.11 -> 0.49 by tens of steps)
    assert np.mean(accuracy[:10]) < 0.2 and np.mean(accuracy[-10:]) > 0.35


def _infogan_bounds(train_generator: bool, steps: int = 100):
    """The bound over steps when the info term alone trains Q (critic step, detached fakes) and, if
    ``train_generator``, the generator (generator step, not detached)."""
    torch.manual_seed(0)
    rng = torch.Generator().manual_seed(1)
    params = InfoGANParams(noise_dim=16, hidden=32)
    g = MLPGenerator(params.codes.latent_dim, 784, 64, 2)
    critic, q = MLPCritic(784, 64, 2), QHead(64, params)
    d_opt, g_opt = adam(critic, q, lr=2e-3), adam(g, lr=2e-3)
    bounds = []
    for _ in range(steps):
        codes = sample_codes(32, params.codes, rng)
        loss = sum(q.terms(critic(g(codes.latent()).detach()), codes).values())
        d_opt.zero_grad()
        loss.backward()
        d_opt.step()
        codes = sample_codes(32, params.codes, rng)
        out = critic(g(codes.latent()))
        g_loss = sum(q.terms(out, codes).values())
        g_opt.zero_grad()
        g_loss.backward()
        if train_generator:
            g_opt.step()
        bounds.append(mutual_information_bound(q(out), codes).item())
    return np.array(bounds)


def test_infogan_generator_and_q_raise_the_bound_together():
    """From a random generator the codes barely show in its samples, so Q alone learns slowly; the
    generator, trained by the same term, makes them readable (the term reaches it)."""
    torch.set_num_threads(1)
    together, q_alone = _infogan_bounds(True), _infogan_bounds(False)
    # a blind Q: H(c) - log 10 - 2 (0.92 + E c^2 / 2) = -0.78 nats
    assert together[:10].mean() == pytest.approx(-0.78, abs=0.1) and q_alone[:10].mean() == pytest.approx(
        -0.78, abs=0.1
    )
    assert together[-10:].mean() > q_alone[-10:].mean() + 0.3  # seen: 0.07 vs -0.61


def test_infogan_terms_train_beside_the_non_saturating_objective(mnist):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, _ = mnist
    rng = torch.Generator().manual_seed(1)
    params = InfoGANParams(noise_dim=16, hidden=32)
    g = MLPGenerator(params.codes.latent_dim, 784, 64, 2)
    critic, q = MLPCritic(784, 64, 2), QHead(64, params)
    d_opt, g_opt = adam(critic, q, lr=2e-4), adam(g, lr=1e-3)  # the paper's rates
    for _ in range(10):
        real = x[torch.randint(len(x), (32,), generator=rng)]
        codes = sample_codes(32, params.codes, rng)
        fake_out = critic(g(codes.latent()).detach())
        loss = minimax_critic_loss(critic(real).score, fake_out.score) + sum(q.terms(fake_out, codes).values())
        d_opt.zero_grad()
        loss.backward()
        d_opt.step()
        codes = sample_codes(32, params.codes, rng)
        out = critic(g(codes.latent()))
        g_loss = non_saturating_generator_loss(out.score) + sum(q.terms(out, codes).values())
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        assert loss.isfinite() and g_loss.isfinite()
