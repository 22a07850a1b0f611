"""Class labels for conditional GANs: checking, drawing, embedding, and binding them to a critic.

Labels are ``(N,)`` long tensors of class indices in ``[0, num_classes)``.

A conditional critic takes ``(x, labels)``, but penalties differentiate a critic of ``x`` alone;
:func:`bind_labels` closes over the labels so a penalty sees ``x -> critic(x, labels)`` and the
gradient is taken over the sample only. Interpolates between real and fake samples are only
well defined when both carry the same labels, so a conditional critic step generates its fakes
with the real batch's labels (as the WGAN-GP paper's conditional CIFAR-10 code does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from earthmover.data.sources.registry import IMAGE_SOURCES
from earthmover.errors import EarthmoverError


def at_least_float32(x: Tensor) -> Tensor:
    """Loss terms are computed in float32 (half precision under autocast is promoted); float64 is kept."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def require_labels(labels: Tensor | None, source: str, use: str = "a conditional model") -> Tensor:
    """``labels`` when the data source has them; otherwise a one-line error naming the source and the fix."""
    if labels is None:
        raise EarthmoverError(
            f"{use} needs class labels, but the data source {source!r} has none; use a labelled source "
            f"({', '.join(n for n, s in IMAGE_SOURCES.items() if s.labels and not s.argument)}, "
            f"a folder with one subfolder per class) or drop the conditioning"
        )
    return labels


def check_labels(labels: Tensor, num_classes: int) -> Tensor:
    """``labels`` as a (N,) long tensor, after checking every value lies in [0, num_classes)."""
    if labels.dim() != 1:
        raise EarthmoverError(f"labels of shape {tuple(labels.shape)}; expected a 1-D tensor of class indices")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise EarthmoverError(f"labels of dtype {labels.dtype}; expected integer class indices")
    labels = labels.long()
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        bad = int(labels.min()) if int(labels.min()) < 0 else int(labels.max())
        raise EarthmoverError(
            f"label {bad} is outside [0, {num_classes}); set model.num_classes to the data's number of classes"
        )
    return labels


def sample_labels(n: int, num_classes: int, generator: torch.Generator | None = None) -> Tensor:
    """``n`` labels drawn uniformly (the generator step's labels when it has no real batch to copy)."""
    return torch.randint(num_classes, (n,), generator=generator)


def grid_labels(num_classes: int, per_label: int) -> Tensor:
    """``--per-label N``: labels 0,0,...,1,1,... so a grid of ``per_label`` columns has one row per class."""
    return torch.arange(num_classes).repeat_interleave(per_label)


class LabelEmbedding(nn.Module):
    """Label -> vector. ``dim = 0``: the fixed one-hot code of Mirza & Osindero (width num_classes);
    ``dim > 0``: a learned embedding of that width."""

    def __init__(self, num_classes: int, dim: int = 0):
        super().__init__()
        if num_classes < 2:
            raise EarthmoverError(f"num_classes = {num_classes}; a conditional model needs at least 2 classes")
        if dim < 0:
            raise EarthmoverError(f"label embedding dim = {dim}; expected 0 (one-hot) or a positive width")
        self.num_classes = num_classes
        self.dim = dim or num_classes
        self.table = nn.Embedding(num_classes, dim) if dim else None

    def forward(self, labels: Tensor) -> Tensor:
        if self.table is None:
            return F.one_hot(labels.long(), self.num_classes).float()
        return self.table(labels.long())


class LabelBound(nn.Module):
    """``x -> critic(x, labels)``: a conditional critic seen as a critic of samples alone (for penalties)."""

    def __init__(self, critic: nn.Module, labels: Tensor):
        super().__init__()
        self.critic = critic
        self.labels = labels

    def forward(self, x: Tensor):
        if x.shape[0] != self.labels.shape[0]:
            raise ValueError(f"{x.shape[0]} samples but {self.labels.shape[0]} bound labels")
        return self.critic(x, self.labels)


def bind_labels(critic: nn.Module, labels: Tensor | None) -> nn.Module:
    """The critic of samples alone that penalties expect: ``critic`` itself when ``labels`` is None."""
    return critic if labels is None else LabelBound(critic, labels)
