"""Label conditioning: concat (Mirza & Osindero) and projection (Miyato & Koyama) on constructed networks."""

import pytest
import torch
from torch import nn

from earthmover.data.labels import (
    LabelEmbedding,
    bind_labels,
    check_labels,
    grid_labels,
    require_labels,
    sample_labels,
)
from earthmover.errors import EarthmoverError
from earthmover.losses.penalties import critic_input_gradient, gradient_penalty
from earthmover.nets.conditional import (
    ConcatCritic,
    ConcatGenerator,
    ProjectionCritic,
    concat_input_shape,
    concat_latent_dim,
)
from earthmover.nets.critic_output import CriticOutput
from earthmover.nets.mlp import MLPCritic, MLPGenerator
from earthmover.nets.projection import projection_term


class Fixed(nn.Module):
    """A critic whose score and features are given: what the projection wrapper adds is all that varies."""

    def __init__(self, score, features):
        super().__init__()
        self.score, self.features = score, features

    def forward(self, x):
        return CriticOutput(score=self.score, features=self.features)


class Recorder(nn.Module):
    """Returns its input's row sums and keeps the input, to see what a wrapper feeds its network."""

    def forward(self, x):
        self.seen = x
        return x.flatten(1).sum(dim=1)


def test_projection_term_is_the_inner_product_of_the_label_row_with_the_features():
    features = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    v = torch.tensor([[0.5, 0.0], [1.0, 1.0], [-1.0, 2.0]])
    labels = torch.tensor([2, 1])
    # by hand: <(-1, 2), (1, 2)> = 3 ; <(1, 1), (3, -1)> = 2
    assert torch.equal(projection_term(features, labels, v), torch.tensor([3.0, 2.0]))


def test_projection_critic_adds_the_term_to_the_unconditional_score():
    features = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    critic = ProjectionCritic(Fixed(torch.tensor([0.1, -0.2]), features), num_classes=3, feature_dim=2)
    with torch.no_grad():
        critic.embedding.weight.copy_(torch.tensor([[0.5, 0.0], [1.0, 1.0], [-1.0, 2.0]]))
    out = critic(torch.zeros(2, 5), torch.tensor([2, 1]))
    assert torch.allclose(out.score, torch.tensor([0.1 + 3.0, -0.2 + 2.0]))
    # another class gives another score for the same sample: <(0.5, 0), (1, 2)> = 0.5
    assert torch.allclose(critic(torch.zeros(2, 5), torch.tensor([0, 1])).score[0], torch.tensor(0.1 + 0.5))
    assert torch.equal(out.features, features)


def test_projection_trains_only_the_rows_of_the_classes_in_the_batch():
    critic = ProjectionCritic(MLPCritic(2, 8, 1), num_classes=4, feature_dim=8)
    critic(torch.randn(5, 2), torch.tensor([1, 1, 3, 1, 3])).score.sum().backward()
    row_norms = critic.embedding.weight.grad.norm(dim=1)
    assert row_norms[0] == 0 and row_norms[2] == 0
    assert row_norms[1] > 0 and row_norms[3] > 0


def test_projection_needs_features():
    critic = ProjectionCritic(nn.Linear(2, 1), num_classes=3, feature_dim=1)
    with pytest.raises(EarthmoverError, match="features"):
        critic(torch.zeros(2, 2), torch.tensor([0, 1]))


def test_concat_generator_feeds_the_latent_and_the_one_hot_label():
    emb = LabelEmbedding(3)
    inner = Recorder()
    g = ConcatGenerator(inner, emb, latent_dim=2)
    z = torch.tensor([[0.5, -1.0], [2.0, 3.0]])
    g(z, torch.tensor([2, 0]))
    assert torch.equal(inner.seen, torch.tensor([[0.5, -1.0, 0, 0, 1], [2.0, 3.0, 1, 0, 0]]))
    assert concat_latent_dim(2, emb) == 5


def test_concat_critic_appends_constant_label_maps_to_images():
    emb = LabelEmbedding(4)
    inner = Recorder()
    x = torch.randn(2, 1, 3, 3)
    ConcatCritic(inner, emb)(x, torch.tensor([3, 1]))
    assert inner.seen.shape == (2, 5, 3, 3) == (2, *concat_input_shape((1, 3, 3), emb))
    assert torch.equal(inner.seen[:, :1], x)
    assert torch.equal(inner.seen[0, 1:].flatten(1).amax(1), torch.tensor([0.0, 0, 0, 1]))
    assert torch.equal(inner.seen[1, 1:].flatten(1).amin(1), torch.tensor([0.0, 1, 0, 0]))


def test_concat_networks_depend_on_the_label():
    torch.manual_seed(0)
    emb = LabelEmbedding(10, dim=4)
    g = ConcatGenerator(MLPGenerator(8 + 4, 2, 16, 2), emb, latent_dim=8)
    c = ConcatCritic(MLPCritic(*concat_input_shape((2,), emb), 16, 2), emb)
    z = torch.randn(1, 8).expand(2, 8)
    x = g(z, torch.tensor([1, 7]))
    assert not torch.allclose(x[0], x[1])
    s = c(x[:1].expand(2, 2), torch.tensor([1, 7])).score
    assert not torch.allclose(s[0], s[1])


def test_penalties_see_a_conditional_critic_through_its_bound_labels():
    torch.manual_seed(0)
    emb = LabelEmbedding(3)
    critic = ConcatCritic(MLPCritic(2 + 3, 16, 2), emb)
    labels = torch.tensor([0, 1, 2, 1])
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    bound = bind_labels(critic, labels)
    grad = critic_input_gradient(bound, real)
    assert grad.shape == real.shape  # the gradient is over the sample, not the label maps
    gp = gradient_penalty(bound, real, fake, generator=torch.Generator().manual_seed(1))
    assert gp.isfinite() and gp > 0
    assert bind_labels(critic, None) is critic


def test_labels_are_checked_drawn_and_laid_out():
    with pytest.raises(EarthmoverError, match="label 10 is outside"):
        check_labels(torch.tensor([0, 10]), 10)
    with pytest.raises(EarthmoverError, match="integer"):
        check_labels(torch.tensor([0.0, 1.0]), 10)
    with pytest.raises(EarthmoverError, match="'8gaussians' has none"):
        require_labels(None, "8gaussians")
    assert torch.equal(check_labels(torch.tensor([3, 0], dtype=torch.uint8), 4), torch.tensor([3, 0]))
    a = sample_labels(1000, 10, torch.Generator().manual_seed(0))
    assert torch.equal(a, sample_labels(1000, 10, torch.Generator().manual_seed(0)))
    assert torch.equal(a.bincount(minlength=10) > 50, torch.ones(10, dtype=torch.bool))  # every class, roughly uniform
    assert torch.equal(grid_labels(3, 2), torch.tensor([0, 0, 1, 1, 2, 2]))
