"""AC-GAN (Odena, Olah & Shlens 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs").

The critic also outputs class logits l(x). With the class cross-entropy

    CE(x, y) = -log softmax(l(x))[y],

the critic minimizes its objective's loss + w_real E CE(x, y) + w_fake E CE(G(z, y), y) and the
generator minimizes its objective's loss + w_gen E CE(G(z, y), y): both networks want generated
samples to be classified as the class they were asked for. Odena et al. use weight 1 everywhere
(so does Karras et al.'s ``D_wgangp_acgan`` / ``G_wgan_acgan``); the WGAN-GP paper's conditional
CIFAR-10 run (igul222/improved_wgan_training, gan_cifar_resnet.py) trains the classifier on real
samples only (w_fake = 0) and scales the generator's term by 0.1.

The class head is a linear layer on the critic's penultimate features, sharing its trunk. In the
critic step the fakes are detached (only the critic and its head learn); in the generator step
the head's output on fakes carries the gradient into the generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from earthmover.data.labels import at_least_float32
from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import CriticOutput, as_critic_output


@dataclass(frozen=True)
class ACGANParams:
    """The weights of the class terms. Field metadata has the shape of ``earthmover.registry.param``
    (doc, min), so the registered head entry can declare the same fields."""

    real_weight: float = field(
        default=1.0, metadata={"earthmover": {"doc": "critic: class cross-entropy on real samples", "min": 0.0}}
    )
    fake_weight: float = field(
        default=1.0, metadata={"earthmover": {"doc": "critic: class cross-entropy on generated samples", "min": 0.0}}
    )
    generator_weight: float = field(
        default=1.0, metadata={"earthmover": {"doc": "generator: class cross-entropy on its samples", "min": 0.0}}
    )

    def __post_init__(self):
        for name in ("real_weight", "fake_weight", "generator_weight"):
            value = getattr(self, name)
            if not value >= 0:
                raise EarthmoverError(f"acgan.{name} = {value}; expected a weight >= 0")


def class_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean over the batch of -log softmax(logits)[label] (log-sum-exp form, stable for large logits)."""
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise EarthmoverError(
            f"class logits {tuple(logits.shape)} and labels {tuple(labels.shape)} must be (N, C) and (N,)"
        )
    return F.cross_entropy(at_least_float32(logits), labels.long())


def acgan_critic_loss(
    real_logits: Tensor,
    real_labels: Tensor,
    fake_logits: Tensor,
    fake_labels: Tensor,
    real_weight: float = 1.0,
    fake_weight: float = 1.0,
) -> Tensor:
    """The class terms added to the critic's loss: w_real CE(real) + w_fake CE(fake)."""
    return real_weight * class_cross_entropy(real_logits, real_labels) + fake_weight * class_cross_entropy(
        fake_logits, fake_labels
    )


def acgan_generator_loss(fake_logits: Tensor, fake_labels: Tensor, weight: float = 1.0) -> Tensor:
    """The class term added to the generator's loss: w_gen CE(fake)."""
    return weight * class_cross_entropy(fake_logits, fake_labels)


def class_accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Share of samples whose top logit is their label (logged, not trained)."""
    return (logits.argmax(dim=1) == labels.long()).float().mean()


class ClassHead(nn.Module):
    """Class logits from a critic's features: one linear layer on the shared trunk."""

    def __init__(self, in_features: int, num_classes: int, params: ACGANParams | None = None):
        super().__init__()
        if num_classes < 2:
            raise EarthmoverError(f"num_classes = {num_classes}; AC-GAN needs at least 2 classes")
        self.num_classes = num_classes
        self.params = params or ACGANParams()
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, out: Tensor | CriticOutput) -> Tensor:
        features = as_critic_output(out).features
        if features is None:
            raise EarthmoverError(
                "the AC-GAN class head reads the critic's features, but this critic returns a bare score; "
                "use an architecture whose critic returns CriticOutput(score, features)"
            )
        return self.linear(features.flatten(1))

    def critic_terms(
        self, real: Tensor | CriticOutput, real_labels: Tensor, fake: Tensor | CriticOutput, fake_labels: Tensor
    ) -> dict[str, Tensor]:
        """{term: scalar} added to the critic's loss, from its outputs on real and (detached) fake samples."""
        p = self.params
        real_logits, fake_logits = self(real), self(fake)
        return {
            "acgan_real": p.real_weight * class_cross_entropy(real_logits, real_labels),
            "acgan_fake": p.fake_weight * class_cross_entropy(fake_logits, fake_labels),
        }

    def generator_terms(self, fake: Tensor | CriticOutput, fake_labels: Tensor) -> dict[str, Tensor]:
        """{term: scalar} added to the generator's loss."""
        return {"acgan_generator": acgan_generator_loss(self(fake), fake_labels, self.params.generator_weight)}

    @torch.no_grad()
    def accuracy(self, out: Tensor | CriticOutput, labels: Tensor) -> Tensor:
        return class_accuracy(self(out), labels)
