"""Critic layers that look at the whole minibatch, so a collapsed generator is easy to tell apart.

* :class:`MinibatchDiscrimination` (Salimans et al. 2016, "Improved Techniques for Training GANs",
  section 3.2; ``openai/improved-gan``, mnist_svhn_cifar10/nn.py ``MinibatchLayer``): features
  f(x_i) in R^A are multiplied by a tensor T in R^{A x B x C} into B rows M_{i,b} in R^C; for each
  kernel b, o(x_i)_b = sum_{j != i} exp(-||M_{i,b} - M_{j,b}||_1); the B values are concatenated to
  f(x_i). The authors' code leaves the sample itself out of the sum (a 1e6 added on the diagonal);
  so does this one. Their CIFAR-10 run uses B = 100 kernels of C = 5 dimensions.
* :class:`MinibatchStdDev` (Karras et al. 2018, "Progressive Growing of GANs", section 3;
  ``tkarras/progressive_growing_of_gans``, networks.py ``minibatch_stddev_layer``): the minibatch is
  split into groups of ``group_size`` samples (sample n is in group n mod M, M = N / group_size);
  the standard deviation of every feature over the group, averaged over features (and pixels),
  is appended to each sample as one more feature map (or feature).

Both couple the samples of a batch: a sample's score depends on the others. A per-sample
gradient penalty assumes it does not, so configurations should refuse the pair unless the user
insists; :func:`couples_samples` tells whether a built critic has such a layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from earthmover.errors import EarthmoverError
from earthmover.nets.critic_output import CriticOutput


class MinibatchDiscrimination(nn.Module):
    """(N, A) -> (N, A + num_kernels)."""

    couples_samples = True
    """Read by the builder's guard (train/build.py ``batch_statistics_layers``): refused beside a per-sample penalty."""

    def __init__(self, in_features: int, num_kernels: int = 100, kernel_dim: int = 5, init_std: float = 0.05):
        super().__init__()
        if in_features < 1 or num_kernels < 1 or kernel_dim < 1:
            raise EarthmoverError(
                f"minibatch discrimination: in_features = {in_features}, num_kernels = {num_kernels}, "
                f"kernel_dim = {kernel_dim}; expected positive sizes"
            )
        self.in_features, self.num_kernels, self.kernel_dim = in_features, num_kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, num_kernels * kernel_dim) * init_std)

    @property
    def extra_features(self) -> int:
        return self.num_kernels

    def forward(self, x: Tensor) -> Tensor:
        flat = x.flatten(1)
        if flat.shape[1] != self.in_features:
            raise EarthmoverError(f"minibatch discrimination expects {self.in_features} features, got {flat.shape[1]}")
        m = (flat @ self.T).view(-1, self.num_kernels, self.kernel_dim)  # (N, B, C)
        l1 = (m.unsqueeze(1) - m.unsqueeze(0)).abs().sum(dim=3)  # (N, N, B): ||M_i,b - M_j,b||_1
        others = 1.0 - torch.eye(flat.shape[0], dtype=flat.dtype, device=flat.device)
        o = (torch.exp(-l1) * others.unsqueeze(2)).sum(dim=1)  # (N, B), j != i
        return torch.cat([flat, o], dim=1)


class MinibatchStdDev(nn.Module):
    """(N, C, H, W) -> (N, C + 1, H, W), or (N, D) -> (N, D + 1)."""

    couples_samples = True

    def __init__(self, group_size: int = 4, eps: float = 1e-8):
        super().__init__()
        if group_size < 2:
            raise EarthmoverError(f"minibatch standard deviation: group_size = {group_size}; expected at least 2")
        self.group_size, self.eps = group_size, eps

    @property
    def extra_features(self) -> int:
        return 1

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        g = min(self.group_size, n)
        if n % g:
            raise EarthmoverError(
                f"minibatch standard deviation: a batch of {n} samples does not split into groups of {g}; "
                f"use a batch size divisible by {g}"
            )
        y = x.float().reshape(g, n // g, *x.shape[1:])  # [G, M, ...]
        std = torch.sqrt(y.var(dim=0, unbiased=False) + self.eps)  # [M, ...]
        s = std.flatten(1).mean(dim=1).to(x.dtype)  # [M]
        s = s.repeat(g)  # sample n -> group n mod M
        extra = s.view(n, 1, *([1] * (x.dim() - 2))).expand(n, 1, *x.shape[2:])
        return torch.cat([x, extra], dim=1)


MINIBATCH_LAYERS = ("discrimination", "stddev")
MinibatchLayer = MinibatchDiscrimination | MinibatchStdDev


def make_minibatch_layer(
    kind: str, in_features: int, num_kernels: int = 100, kernel_dim: int = 5, group_size: int = 4
) -> MinibatchLayer:
    """The layer ``model.minibatch`` names: discrimination | stddev."""
    if kind == "discrimination":
        return MinibatchDiscrimination(in_features, num_kernels, kernel_dim)
    if kind == "stddev":
        return MinibatchStdDev(group_size)
    raise EarthmoverError(
        f"model.minibatch = {kind!r} is invalid; expected none or one of {', '.join(MINIBATCH_LAYERS)}"
    )


class FeatureLayerCritic(nn.Module):
    """A critic with a layer between its features and its output: score = out'(layer(f(x))) and
    features = layer(f(x)), where f is the critic's ``features(x)`` method (the conv and ResNet
    critics) or its ``body`` (the mlp and dcgan critics), and out' replaces the critic's linear
    ``out`` with one that also reads the layer's extra features (so no parameter is left unused,
    which DistributedDataParallel would refuse). A critic that rescales its score after ``out``
    (the deep ResNet's / 5) loses that rescaling."""

    def __init__(self, critic: nn.Module, layer: MinibatchLayer):
        super().__init__()
        features, out = getattr(critic, "features", None), getattr(critic, "out", None)
        has_features = callable(features) and not isinstance(features, nn.Module)
        if not isinstance(out, nn.Linear) or not (has_features or isinstance(getattr(critic, "body", None), nn.Module)):
            raise EarthmoverError(
                f"a minibatch layer goes between a critic's features and its output layer, but {type(critic).__name__} "
                f"has no `features` (or `body`) and linear `out`; use the mlp, dcgan, conv or resnet critics"
            )
        self._has_features = has_features
        critic.out = nn.Linear(out.in_features + layer.extra_features, 1)
        self.critic: Any = critic  # any critic with features() or body, and out: structural, not a base class
        self.layer = layer

    def forward(self, x: Tensor) -> CriticOutput:
        f = self.critic.features(x) if self._has_features else self.critic.body(x)
        h = self.layer(f.flatten(1))
        return CriticOutput(score=self.critic.out(h).squeeze(1), features=h)


def add_minibatch_layer(critic: nn.Module, kind: str, **options) -> nn.Module:
    """``critic`` with the minibatch layer ``kind`` before its output layer."""
    out = getattr(critic, "out", None)
    in_features = out.in_features if isinstance(out, nn.Linear) else 1
    return FeatureLayerCritic(critic, make_minibatch_layer(kind, in_features, **options))


def layer_couples_samples(layer: nn.Module) -> bool:
    """True for a layer whose output for one sample depends on the others in its batch: batch
    normalization (any _BatchNorm, SyncBatchNorm included) and layers that say ``couples_samples = True``
    (minibatch discrimination, minibatch standard deviation)."""
    return isinstance(layer, nn.modules.batchnorm._BatchNorm) or getattr(layer, "couples_samples", False) is True


def couples_samples(module: nn.Module) -> list[str]:
    """Names of the layers of ``module`` that make one sample's output depend on the others
    (minibatch discrimination, minibatch standard deviation, batch normalization); [] if none.
    The loop scores real and fake batches in separate passes when a critic has any, so neither
    sees the other's statistics and the critic step normalizes fakes alone, as the generator step
    does (as DCGAN and the InfoGAN code do)."""
    return [name or type(module).__name__ for name, m in module.named_modules() if layer_couples_samples(m)]
