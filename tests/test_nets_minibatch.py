"""Minibatch discrimination (Salimans et al. 2016) and minibatch standard deviation (Karras et al. 2018)."""

import math

import pytest
import torch
from torch import nn

from earthmover.errors import EarthmoverError
from earthmover.nets.dcgan import DCGANCritic
from earthmover.nets.minibatch import (
    MinibatchDiscrimination,
    MinibatchStdDev,
    add_minibatch_layer,
    couples_samples,
    make_minibatch_layer,
)
from earthmover.nets.mlp import MLPCritic
from earthmover.nets.resnet import ResNetCritic


def test_minibatch_discrimination_against_hand_values():
    layer = MinibatchDiscrimination(2, num_kernels=1, kernel_dim=2)
    with torch.no_grad():
        layer.T.copy_(torch.eye(2))  # M_i = x_i
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    out = layer(x)
    # L1 distances: d01 = 1, d02 = 2, d12 = 3; o_i = sum over the OTHER samples of exp(-d)
    hand = [math.exp(-1) + math.exp(-2), math.exp(-1) + math.exp(-3), math.exp(-2) + math.exp(-3)]
    assert torch.equal(out[:, :2], x)
    assert torch.allclose(out[:, 2], torch.tensor(hand))
    # a collapsed batch: every kernel sees N - 1 identical neighbours
    assert torch.allclose(layer(torch.ones(4, 2))[:, 2], torch.full((4,), 3.0))


def test_minibatch_stddev_against_hand_values():
    # batch of 4 in groups of 2: sample n is in group n mod 2, i.e. {0, 2} and {1, 3}
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 4.0], [1.0, 1.0]])
    out = MinibatchStdDev(group_size=2, eps=0.0)(x)
    # group {0, 2}: stds (1, 2) -> mean 1.5 ; group {1, 3}: identical samples -> 0
    assert torch.equal(out[:, :2], x)
    assert torch.allclose(out[:, 2], torch.tensor([1.5, 0.0, 1.5, 0.0]))


def test_output_shapes():
    x = torch.randn(8, 3, 5, 5)
    assert MinibatchStdDev(4)(x).shape == (8, 4, 5, 5)
    assert MinibatchStdDev(4)(torch.randn(8, 6)).shape == (8, 7)
    assert MinibatchStdDev(4)(torch.randn(3, 6)).shape == (3, 7)  # a batch smaller than a group is one group
    assert MinibatchDiscrimination(75, 10, 5)(x).shape == (8, 75 + 10)
    critic = add_minibatch_layer(DCGANCritic(28, 1, 8), "discrimination", num_kernels=6, kernel_dim=3)
    out = critic(torch.randn(4, 1, 28, 28))
    assert out.score.shape == (4,) and out.features.shape == (4, 16 * 7 * 7 + 6)
    out = add_minibatch_layer(MLPCritic(2, 16, 2), "stddev")(torch.randn(8, 2))
    assert out.score.shape == (8,) and out.features.shape == (8, 17)
    resnet = add_minibatch_layer(ResNetCritic(32, 3, 8), "stddev")  # a critic with a features() method
    out = resnet(torch.randn(4, 3, 32, 32))
    assert out.score.shape == (4,) and out.features.shape == (4, 9)
    out.score.sum().backward()  # every parameter is used (DistributedDataParallel requires it)
    assert all(p.grad is not None for p in resnet.parameters())


@pytest.mark.parametrize("kind", ["discrimination", "stddev"])
def test_a_minibatch_layer_couples_the_samples_of_a_batch_and_a_plain_critic_does_not(kind):
    torch.manual_seed(0)
    plain = MLPCritic(2, 16, 2)
    coupled = add_minibatch_layer(MLPCritic(2, 16, 2), kind, num_kernels=8, kernel_dim=3)
    x = torch.randn(8, 2)
    y = x.clone()
    y[2] += 3.0  # change ANOTHER sample than the one we watch (in its stddev group: n mod 2)
    assert torch.equal(plain(x).score[0], plain(y).score[0])
    assert not torch.allclose(coupled(x).score[0], coupled(y).score[0])
    # and the gradient of sample 0's score reaches sample 2
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(coupled(x).score[0], x)
    assert g[2].abs().sum() > 0
    (g,) = torch.autograd.grad(plain(x).score[0], x)
    assert g[2].abs().sum() == 0


def test_minibatch_stddev_couples_only_within_a_group():
    layer = MinibatchStdDev(group_size=4)
    x = torch.randn(8, 3)
    y = x.clone()
    y[1] += 3.0  # groups are n mod 2: sample 1 is not in sample 0's group
    assert torch.equal(layer(x)[0], layer(y)[0])
    assert not torch.equal(layer(x)[3], layer(y)[3])


def test_couples_samples_names_the_layers_that_do():
    assert couples_samples(MLPCritic(2, 8, 1)) == []
    assert couples_samples(add_minibatch_layer(MLPCritic(2, 8, 1), "stddev")) == ["layer"]
    assert couples_samples(add_minibatch_layer(ResNetCritic(32, 3, 8), "discrimination", num_kernels=4)) == ["layer"]
    assert couples_samples(DCGANCritic(28, 1, 8, norm="batch")) == ["body.3"]
    assert couples_samples(nn.Sequential(MinibatchDiscrimination(2, 2, 2))) == ["0"]
    # the attribute the builder's batch-statistics guard reads
    assert MinibatchDiscrimination(2).couples_samples is True and MinibatchStdDev().couples_samples is True


def test_errors_name_the_fix():
    with pytest.raises(EarthmoverError, match="divisible by 4"):
        MinibatchStdDev(4)(torch.randn(6, 2))
    with pytest.raises(EarthmoverError, match="model.minibatch"):
        make_minibatch_layer("batch", 4)
    with pytest.raises(EarthmoverError, match="no `features`"):
        add_minibatch_layer(nn.Linear(2, 1), "stddev")
    with pytest.raises(EarthmoverError, match="expects 4 features"):
        MinibatchDiscrimination(4)(torch.randn(3, 5))
