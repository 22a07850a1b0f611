"""Networks that take class labels: ``concat`` (Mirza & Osindero 2014) and ``projection``
(Miyato & Koyama 2018) conditioning, as wrappers around any generator or critic.

``concat``: the label, embedded (one-hot by default), is fed to both networks. The generator reads
``[z, e(y)]``; a critic of flat samples reads ``[x, e(y)]``, a critic of images reads the image
with ``e(y)`` appended as constant channels. So the wrapped networks are built one size larger:

    inner_g = build_generator(latent_dim=latent_dim + emb.dim)
    inner_c = build_critic(sample_shape=(channels + emb.dim, H, W))      # or (D + emb.dim,)
    generator = ConcatGenerator(inner_g, emb_g); critic = ConcatCritic(inner_c, emb_c)

(:func:`concat_input_shape` and :func:`concat_latent_dim` give the sizes.)

``projection``: the critic is built as usual (it must return ``CriticOutput(score, features)``) and
its score gains ``<V[y], features>`` (:mod:`earthmover.nets.projection`). Its generator is a
``concat`` generator (the paper's uses conditional batch normalization; the label input is the
simplest generator that lets the comparison isolate the critic).

Every wrapped critic is called ``critic(x, labels)``; penalties see it through
:func:`earthmover.data.labels.bind_labels`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from earthmover.data.labels import LabelEmbedding
from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import CriticOutput, as_critic_output
from earthmover.nets.projection import projected_score


def concat_latent_dim(latent_dim: int, embedding: LabelEmbedding) -> int:
    """The input width of a generator wrapped by :class:`ConcatGenerator`."""
    return latent_dim + embedding.dim


def concat_input_shape(sample_shape: tuple[int, ...], embedding: LabelEmbedding) -> tuple[int, ...]:
    """The sample shape a critic wrapped by :class:`ConcatCritic` must accept."""
    shape = tuple(sample_shape)
    if len(shape) == 3:
        return (shape[0] + embedding.dim, shape[1], shape[2])
    if len(shape) == 1:
        return (shape[0] + embedding.dim,)
    raise EarthmoverError(f"concat conditioning takes flat (D,) or image (C, H, W) samples, got shape {shape}")


class ConcatGenerator(nn.Module):
    """G(z, y) = inner([z, e(y)])."""

    def __init__(self, inner: nn.Module, embedding: LabelEmbedding, latent_dim: int):
        super().__init__()
        self.inner, self.embedding, self.latent_dim = inner, embedding, latent_dim
        self.num_classes = embedding.num_classes

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        if z.shape[1] != self.latent_dim:
            raise EarthmoverError(
                f"the conditional generator takes latents of width {self.latent_dim}, got {z.shape[1]}"
            )
        e = self.embedding(labels).to(z.dtype)
        return self.inner(torch.cat([z, e], dim=1))


class ConcatCritic(nn.Module):
    """D(x, y) = inner([x, e(y)]): appended to flat samples, or as constant channels of an image."""

    def __init__(self, inner: nn.Module, embedding: LabelEmbedding):
        super().__init__()
        self.inner, self.embedding = inner, embedding
        self.num_classes = embedding.num_classes

    def forward(self, x: Tensor, labels: Tensor) -> Tensor | CriticOutput:
        e = self.embedding(labels).to(x.dtype)
        if x.dim() == 4:
            e = e[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        elif x.dim() != 2:
            raise EarthmoverError(
                f"concat conditioning takes flat (N, D) or image (N, C, H, W) batches, got {tuple(x.shape)}"
            )
        return self.inner(torch.cat([x, e], dim=1))


class ProjectionCritic(nn.Module):
    """D(x, y) = psi(phi(x)) + <V[y], phi(x)>, with ``inner(x) = CriticOutput(psi(phi(x)), phi(x))``."""

    def __init__(self, inner: nn.Module, num_classes: int, feature_dim: int):
        super().__init__()
        if num_classes < 2:
            raise EarthmoverError(f"num_classes = {num_classes}; a conditional model needs at least 2 classes")
        self.inner, self.num_classes = inner, num_classes
        self.embedding = nn.Embedding(num_classes, feature_dim)
        nn.init.xavier_uniform_(self.embedding.weight)  # sngan_projection: SNEmbedID with GlorotUniform

    def forward(self, x: Tensor, labels: Tensor) -> CriticOutput:
        out = as_critic_output(self.inner(x))
        if out.features is None:
            raise EarthmoverError(
                "the projection critic needs the critic's features, but this critic returns a bare score; "
                "use an architecture whose critic returns CriticOutput(score, features)"
            )
        features = out.features.flatten(1)
        return CriticOutput(
            score=projected_score(out.score, features, labels, self.embedding.weight), features=features
        )
