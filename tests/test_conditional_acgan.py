"""AC-GAN's class terms (Odena et al. 2017) against hand computation on a constructed batch."""

import math

import pytest
import torch
from torch import nn

from earthmover.errors import EarthmoverError
from earthmover.losses.acgan import (
    ACGANParams,
    ClassHead,
    acgan_critic_loss,
    acgan_generator_loss,
    class_accuracy,
    class_cross_entropy,
)
from earthmover.nets.critic_output import CriticOutput
from earthmover.nets.mlp import MLPCritic, MLPGenerator


def ce(logits, label):
    """-log softmax(logits)[label], written out."""
    return math.log(sum(math.exp(v) for v in logits)) - logits[label]


REAL_LOGITS = [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
REAL_LABELS = [0, 2]
FAKE_LOGITS = [[0.0, 0.0, 3.0], [1.0, 1.0, 1.0]]
FAKE_LABELS = [1, 1]
# by hand: log(e^2 + 2) - 2 = 0.2395, log(e + 2) - 0 = 1.5514 ; log(2 + e^3) - 0 = 3.0949, log 3 = 1.0986
CE_REAL = (ce(REAL_LOGITS[0], 0) + ce(REAL_LOGITS[1], 2)) / 2
CE_FAKE = (ce(FAKE_LOGITS[0], 1) + ce(FAKE_LOGITS[1], 1)) / 2


def t(v, dtype=torch.float32):
    return torch.tensor(v, dtype=dtype)


def test_hand_values_of_the_cross_entropy():
    assert CE_REAL == pytest.approx((0.23954 + 1.55144) / 2, abs=1e-4)
    assert CE_FAKE == pytest.approx((3.09492 + 1.09861) / 2, abs=1e-4)
    assert class_cross_entropy(t(REAL_LOGITS), t(REAL_LABELS, torch.long)).item() == pytest.approx(CE_REAL, rel=1e-6)


def test_critic_loss_weights_real_and_fake_terms():
    args = t(REAL_LOGITS), t(REAL_LABELS, torch.long), t(FAKE_LOGITS), t(FAKE_LABELS, torch.long)
    assert acgan_critic_loss(*args).item() == pytest.approx(CE_REAL + CE_FAKE, rel=1e-6)
    assert acgan_critic_loss(*args, real_weight=2.0, fake_weight=0.25).item() == pytest.approx(
        2 * CE_REAL + 0.25 * CE_FAKE, rel=1e-6
    )
    # the WGAN-GP paper's CIFAR-10 setting: the classifier learns on real samples only
    assert acgan_critic_loss(*args, fake_weight=0.0).item() == pytest.approx(CE_REAL, rel=1e-6)


def test_generator_loss_is_the_weighted_fake_cross_entropy():
    logits, labels = t(FAKE_LOGITS), t(FAKE_LABELS, torch.long)
    assert acgan_generator_loss(logits, labels).item() == pytest.approx(CE_FAKE, rel=1e-6)
    assert acgan_generator_loss(logits, labels, weight=0.1).item() == pytest.approx(0.1 * CE_FAKE, rel=1e-6)


def test_cross_entropy_is_finite_for_confident_logits():
    logits = t([[1e4, -1e4, 0.0]])
    assert class_cross_entropy(logits, t([0], torch.long)).item() == pytest.approx(0.0, abs=1e-6)
    assert class_cross_entropy(logits, t([1], torch.long)).item() == pytest.approx(2e4, rel=1e-6)


def test_class_head_reads_the_critics_features_and_weights_its_terms():
    head = ClassHead(2, 3, ACGANParams(real_weight=1.0, fake_weight=0.5, generator_weight=0.1))
    with torch.no_grad():  # logits = features @ W^T + b, chosen so the logits are the constructed ones
        head.linear.weight.copy_(t([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        head.linear.bias.zero_()
    real = CriticOutput(score=torch.zeros(2), features=t([[2.0, 0.0], [0.0, 1.0]]))
    fake = CriticOutput(score=torch.zeros(2), features=t([[-1.0, 0.0], [1.0, 1.0]]))
    # logits real: [2, 0, 0], [0, 1, 0]; fake: [-1, 0, 0], [1, 1, 0]
    terms = head.critic_terms(real, t([0, 2], torch.long), fake, t([1, 1], torch.long))
    assert terms["acgan_real"].item() == pytest.approx(CE_REAL, rel=1e-6)
    fake_ce = (ce([-1.0, 0.0, 0.0], 1) + ce([1.0, 1.0, 0.0], 1)) / 2
    assert terms["acgan_fake"].item() == pytest.approx(0.5 * fake_ce, rel=1e-6)
    assert head.generator_terms(fake, t([1, 1], torch.long))["acgan_generator"].item() == pytest.approx(
        0.1 * fake_ce, rel=1e-6
    )
    assert head.accuracy(real, t([0, 2], torch.long)).item() == 0.5


def test_generator_term_reaches_the_generator_and_the_critic_term_on_detached_fakes_does_not():
    torch.manual_seed(0)
    g, critic = MLPGenerator(4, 2, 8, 1), MLPCritic(2, 8, 1)
    head = ClassHead(8, 3)
    labels = torch.tensor([0, 1, 2, 1])
    fake = g(torch.randn(4, 4))
    head.generator_terms(critic(fake), labels)["acgan_generator"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())
    g.zero_grad()
    real = torch.randn(4, 2)
    sum(head.critic_terms(critic(real), labels, critic(fake.detach()), labels).values()).backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in g.parameters())
    assert head.linear.weight.grad.abs().sum() > 0


def test_class_accuracy_and_checks():
    assert class_accuracy(t([[0.0, 1.0], [3.0, 1.0], [0.0, 2.0]]), t([1, 1, 1], torch.long)).item() == pytest.approx(
        2 / 3
    )
    with pytest.raises(EarthmoverError, match="acgan.fake_weight"):
        ACGANParams(fake_weight=-1.0)
    with pytest.raises(EarthmoverError, match="bare score"):
        ClassHead(1, 3)(torch.zeros(2))
    with pytest.raises(EarthmoverError, match="must be"):
        class_cross_entropy(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))
    assert isinstance(ClassHead(4, 3).linear, nn.Linear)
