"""InfoGAN's Q head and mutual-information lower bound (Chen et al. 2016)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from earthmover.data.codes import CodeSpec, LatentCodes, sample_codes
from earthmover.errors import EarthmoverError
from earthmover.losses.infogan import (
    HALF_LOG_2PI,
    InfoGANParams,
    QHead,
    QOutput,
    categorical_code_loss,
    code_entropy,
    continuous_code_loss,
    info_loss,
    mutual_information_bound,
    split_q,
)
from earthmover.metrics.coverage import code_accuracy
from earthmover.nets.critic_output import CriticOutput
from earthmover.nets.mlp import MLPCritic, MLPGenerator

LOG = math.log


def codes_of(categorical, continuous, spec):
    n = len(categorical)
    return LatentCodes(torch.zeros(n, spec.noise_dim), torch.tensor(categorical), torch.tensor(continuous), spec)


def test_categorical_term_is_the_cross_entropy_with_a_known_q():
    # Q puts (1/2, 1/4, 1/4) on the three values for both samples; the codes are 0 and 1
    probs = torch.tensor([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]])
    loss = categorical_code_loss([probs.log()], torch.tensor([[0], [1]]))
    assert loss.item() == pytest.approx((-LOG(0.5) - LOG(0.25)) / 2, rel=1e-6)  # 1.0397
    # two codes: the terms add
    loss2 = categorical_code_loss([probs.log(), torch.zeros(2, 4)], torch.tensor([[0, 3], [1, 0]]))
    assert loss2.item() == pytest.approx((-LOG(0.5) - LOG(0.25)) / 2 + LOG(4), rel=1e-6)


def test_continuous_term_is_the_gaussian_negative_log_likelihood():
    mean, target = torch.tensor([[0.5, 0.0]]), torch.tensor([[1.0, -2.0]])
    # fixed std 1: sum over codes of 0.5 log 2 pi + 0.5 (c - mu)^2
    assert continuous_code_loss(mean, target).item() == pytest.approx(
        2 * 0.5 * LOG(2 * math.pi) + 0.5 * 0.25 + 0.5 * 4.0, rel=1e-6
    )
    # learned std (2 and 0.25): + log sigma, and the residual divided by sigma
    log_std = torch.tensor([[LOG(2.0), LOG(0.25)]])
    hand = (HALF_LOG_2PI + LOG(2.0) + 0.5 * (0.5 / 2.0) ** 2) + (HALF_LOG_2PI + LOG(0.25) + 0.5 * (2.0 / 0.25) ** 2)
    assert continuous_code_loss(mean, target, log_std).item() == pytest.approx(hand, rel=1e-6)
    # averaged over the batch
    two = continuous_code_loss(torch.zeros(2, 1), torch.tensor([[1.0], [3.0]]))
    assert two.item() == pytest.approx(HALF_LOG_2PI + 0.5 * (1.0 + 9.0) / 2, rel=1e-6)


def test_the_bound_with_a_known_q():
    spec = CodeSpec(noise_dim=1, categorical=(3,), continuous=1)
    codes = codes_of([[0], [1]], [[0.5], [-0.5]], spec)
    probs = torch.tensor([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]])
    q = QOutput((probs.log(),), mean=torch.tensor([[0.5], [0.5]]))
    # H(c) = log 3 + log 2 (uniform on [-1, 1]); CE = 1.0397 + (0.9189 + 0.5 * (0 + 1) / 2)
    hand_ce = (-LOG(0.5) - LOG(0.25)) / 2 + HALF_LOG_2PI + 0.25
    assert code_entropy(spec) == pytest.approx(LOG(3) + LOG(2))
    assert mutual_information_bound(q, codes).item() == pytest.approx(LOG(3) + LOG(2) - hand_ce, rel=1e-6)
    terms = info_loss(q, codes, weight=1.0, continuous_weight=0.5)
    assert terms["info_categorical"].item() == pytest.approx((-LOG(0.5) - LOG(0.25)) / 2, rel=1e-6)
    assert terms["info_continuous"].item() == pytest.approx(0.5 * (HALF_LOG_2PI + 0.25), rel=1e-6)


def test_a_q_that_knows_the_categorical_code_reaches_its_entropy():
    spec = CodeSpec(noise_dim=0, categorical=(10,), continuous=0)
    codes = sample_codes(50, spec, torch.Generator().manual_seed(0))
    q = QOutput((100.0 * nn.functional.one_hot(codes.categorical[:, 0], 10).float(),), mean=torch.zeros(50, 0))
    assert mutual_information_bound(q, codes).item() == pytest.approx(LOG(10), abs=1e-6)
    blind = QOutput((torch.zeros(50, 10),), mean=torch.zeros(50, 0))
    assert mutual_information_bound(blind, codes).item() == pytest.approx(0.0, abs=1e-6)


def test_q_head_splits_its_output_per_code():
    spec = CodeSpec(noise_dim=2, categorical=(3, 2), continuous=2)
    flat = torch.arange(9.0).view(1, 9)
    q = split_q(flat, spec, learn_std=True)
    assert [l.tolist() for l in q.logits] == [[[0.0, 1.0, 2.0]], [[3.0, 4.0]]]
    assert q.mean.tolist() == [[5.0, 6.0]] and q.log_std.tolist() == [[7.0, 8.0]]
    assert split_q(flat[:, :7], spec).log_std is None
    with pytest.raises(EarthmoverError, match="expected"):
        split_q(flat, spec)
    head = QHead(8, InfoGANParams(categorical=(3, 2), continuous=2, learn_std=True, hidden=4))
    out = head(CriticOutput(torch.zeros(5), torch.randn(5, 8)))
    assert [l.shape for l in out.logits] == [(5, 3), (5, 2)] and out.mean.shape == out.log_std.shape == (5, 2)


def test_the_mutual_information_term_carries_a_gradient_into_the_generator():
    """The known trap: a Q term computed on detached fakes (or a detached Q input) trains Q only.
    Autograd's gradient of the generator-step term must equal a finite difference through G."""
    torch.manual_seed(0)
    params = InfoGANParams(noise_dim=3, categorical=(4,), continuous=2, hidden=8)
    spec = params.codes
    g = MLPGenerator(spec.latent_dim, 2, 8, 1).double()
    critic, head = MLPCritic(2, 8, 1).double(), QHead(8, params).double()
    codes = sample_codes(16, spec, torch.Generator().manual_seed(1))
    z = codes.latent().double()

    def generator_term():
        return sum(head.terms(critic(g(z)), codes).values())

    loss = generator_term()
    loss.backward()
    w = g.body[0].weight
    assert w.grad is not None and w.grad.abs().sum() > 0
    # a finite difference along the gradient agrees with autograd (so the term is a function of G's output)
    direction = w.grad / w.grad.norm()
    h = 1e-6
    with torch.no_grad():
        w += h * direction
        up = generator_term()
        w -= 2 * h * direction
        down = generator_term()
        w += h * direction
    assert ((up - down) / (2 * h)).item() == pytest.approx(w.grad.norm().item(), rel=1e-5)


def test_code_accuracy_of_a_q_head_on_constructed_cases():
    """Q reads a categorical code that the 'generator' wrote into its output under a permutation;
    metrics.code_accuracy finds the matching, and a Q that confuses two codes loses their share."""
    spec = CodeSpec(noise_dim=0, categorical=(5,), continuous=0)
    params = InfoGANParams(noise_dim=0, categorical=(5,), continuous=0, hidden=5)
    codes = sample_codes(400, spec, torch.Generator().manual_seed(0))
    perm = torch.tensor([3, 0, 4, 1, 2])
    features = nn.functional.one_hot(perm[codes.categorical[:, 0]], 5).float()  # the sample shows digit perm[c]
    head = QHead(5, params)
    with torch.no_grad():  # Q = identity on the features (relu-free path: positive inputs, leaky slope irrelevant)
        head.net[0].weight.copy_(torch.eye(5))
        head.net[0].bias.zero_()
        head.net[2].weight.copy_(torch.eye(5))
        head.net[2].bias.zero_()
    predicted = head.predict(CriticOutput(torch.zeros(400), features))[:, 0]
    acc, mapping = code_accuracy(predicted.numpy(), codes.categorical[:, 0].numpy(), 5)
    assert acc == 1.0 and mapping == {c: int(perm[c]) for c in range(5)}
    # the classifier's labels disagree with code 0 half of the time: accuracy drops by that share
    truth = predicted.clone().numpy()
    flip = (codes.categorical[:, 0].numpy() == 0) & (np.arange(400) % 2 == 0)
    truth[flip] = (truth[flip] + 1) % 5
    assert code_accuracy(truth, codes.categorical[:, 0].numpy(), 5)[0] == pytest.approx(1 - flip.mean())


def test_params_are_checked():
    with pytest.raises(EarthmoverError, match="infogan.weight"):
        InfoGANParams(weight=-1.0)
    with pytest.raises(EarthmoverError, match="at least 2 values"):
        InfoGANParams(categorical=(1,))
    with pytest.raises(EarthmoverError, match="bare score"):
        QHead(3)(torch.zeros(4))
