"""AC-GAN's class logits and InfoGAN's Q as critic heads: one registered entry each.

Each is an addition to the training loop, not an edit of it (:mod:`earthmover.losses.heads`): its layers
sit on the critic's features, its terms join each phase's loss. What the loop provides besides:

* ``takes_labels`` (AC-GAN): the generator is conditioned on class labels and every batch carries
  them; the critic step's fakes are generated with the real batch's labels, the generator step's
  labels are drawn uniformly;
* ``codes()`` (InfoGAN): the generator's latent is noise plus codes, drawn by
  :func:`earthmover.data.codes.sample_codes`, and each fake batch carries its codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from earthmover.data.codes import CodeSpec
from earthmover.errors import EarthmoverError
from earthmover.losses.acgan import class_cross_entropy
from earthmover.losses.heads import DataInfo, Head
from earthmover.losses.infogan import InfoGANParams, QHead, info_loss, split_q
from earthmover.registry import HEADS, param


@HEADS.register("acgan")
@dataclass(frozen=True)
class ACGAN(Head):
    """Odena et al. 2017: class logits on the critic's features; the class cross-entropy on real
    samples (and on generated ones) in the critic's loss, on generated ones in the generator's."""

    weight: float = param(
        0.0,
        "AC-GAN: class cross-entropy on real samples in the critic's loss (> 0 switches AC-GAN on; Odena et al.: 1)",
        min=0.0,
    )
    fake_weight: float = param(
        1.0,
        "AC-GAN: class cross-entropy on generated samples in the critic's loss (the WGAN-GP paper's CIFAR-10 run: 0)",
        min=0.0,
    )
    generator_weight: float = param(
        1.0,
        "AC-GAN: class cross-entropy on generated samples in the generator's loss "
        "(the WGAN-GP paper's CIFAR-10 run: 0.1)",
        min=0.0,
    )
    provides: ClassVar[tuple[str, ...]] = ("class_logits",)
    needs: ClassVar[tuple[str, ...]] = ("features",)
    takes_labels: ClassVar[bool] = True

    def module(self, feature_dim: int, data: DataInfo) -> nn.Module:
        return nn.Linear(feature_dim, data.num_classes)

    def critic_terms(self, real, fake):
        return {
            "acgan_real": self.weight * class_cross_entropy(real.out.extras["class_logits"], real.labels),
            "acgan_fake": self.fake_weight * class_cross_entropy(fake.out.extras["class_logits"], fake.labels),
        }

    def generator_terms(self, fake):
        return {
            "acgan_generator": self.generator_weight * class_cross_entropy(fake.out.extras["class_logits"], fake.labels)
        }


@HEADS.register("infogan")
@dataclass(frozen=True)
class InfoGAN(Head):
    """Chen et al. 2016: the latent is noise plus codes; Q on the critic's features predicts the
    codes of a generated sample; the variational bound's cross-entropy joins both losses."""

    weight: float = param(
        0.0, "InfoGAN: lambda of the categorical codes' term (> 0 switches InfoGAN on; the paper: 1)", min=0.0
    )
    continuous_weight: float = param(1.0, "InfoGAN: lambda of the continuous codes' term", min=0.0)
    noise_dim: int = param(62, "InfoGAN: incompressible noise dimensions", min=0)
    categorical: int = param(10, "InfoGAN: values of the categorical code (0: none)", min=0)
    categorical_codes: int = param(1, "InfoGAN: number of categorical codes", min=0)
    continuous: int = param(2, "InfoGAN: continuous codes, uniform on [-1, 1]", min=0)
    learn_std: bool = param(False, "InfoGAN: Q predicts the continuous codes' standard deviation (else 1)")
    hidden: int = param(128, "InfoGAN: hidden units of the Q head", min=1)
    provides: ClassVar[tuple[str, ...]] = ("q",)
    needs: ClassVar[tuple[str, ...]] = ("features",)

    def __post_init__(self):
        if self.categorical == 1:  # the registered range (>= 0) admits it; a code with one value carries nothing
            raise EarthmoverError(
                "head.infogan_categorical = 1 is invalid; a categorical code needs at least 2 values: "
                "set 0 for none, or 2 or more (the paper's MNIST run: 10)"
            )

    @property
    def params(self) -> InfoGANParams:
        cats = (self.categorical,) * self.categorical_codes if self.categorical else ()
        return InfoGANParams(
            self.weight, self.continuous_weight, self.noise_dim, cats, self.continuous, self.learn_std, self.hidden
        )

    def codes(self) -> CodeSpec:
        return self.params.codes

    def module(self, feature_dim: int, data: DataInfo) -> nn.Module:
        return QHead(feature_dim, self.params).net  # flat (N, q_dim) out; the terms split it

    def _terms(self, fake):
        q = split_q(fake.out.extras["q"], self.codes(), self.learn_std)
        return info_loss(q, fake.codes, self.weight, self.continuous_weight)

    def critic_terms(self, real, fake):
        return self._terms(fake)  # trains Q (and the shared trunk) on the detached fakes

    def generator_terms(self, fake):
        return {f"{k}_generator": v for k, v in self._terms(fake).items()}  # trains G: the fakes are not detached
