"""The projection discriminator (Miyato & Koyama 2018, "cGANs with Projection Discriminator").

The critic's score for a sample x of class y is

    D(x, y) = psi(phi(x)) + < V[y], phi(x) >

where phi(x) are the critic's penultimate features, psi its unconditional output layer and V a
learned (num_classes, K) class embedding. In ``pfnet-research/sngan_projection``
(dis_models/snresnet_64.py) phi is the globally sum-pooled last ResNet block and V a spectrally
normalized embedding with Glorot-uniform initialization; spectral normalization, when the run asks
for it, is applied by ``earthmover.losses.constraints`` to every layer, V included.

The network wrapper is :class:`earthmover.nets.conditional.ProjectionCritic`.
"""

from __future__ import annotations

from torch import Tensor

from earthmover.errors import EarthmoverError


def projection_term(features: Tensor, labels: Tensor, embedding: Tensor) -> Tensor:
    """``<V[y_i], phi(x_i)>`` for each sample: (N,) from features (N, K), labels (N,) and V (C, K)."""
    if features.dim() != 2 or embedding.dim() != 2 or features.shape[1] != embedding.shape[1]:
        raise EarthmoverError(
            f"projection term: features {tuple(features.shape)} and class embedding {tuple(embedding.shape)} "
            f"must be (N, K) and (num_classes, K)"
        )
    if labels.shape != features.shape[:1]:
        raise EarthmoverError(f"projection term: {features.shape[0]} samples but labels of shape {tuple(labels.shape)}")
    return (embedding[labels.long()] * features).sum(dim=1)


def projected_score(score: Tensor, features: Tensor, labels: Tensor, embedding: Tensor) -> Tensor:
    """``psi(phi(x)) + <V[y], phi(x)>``: the critic's unconditional score plus the projection term."""
    return score + projection_term(features, labels, embedding)
