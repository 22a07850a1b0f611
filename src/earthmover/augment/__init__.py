"""Differentiable augmentation for small datasets: DiffAugment's transforms (Zhao et al. 2020) applied with
probability ``p`` to every image the critic sees, and ADA's controller of ``p`` (Karras et al. 2020).

* :data:`AUGMENTATIONS` - the registered transforms (``translation``, ``cutout``, ``color``);
* :class:`Augment` - a policy applied with probability ``p``, every draw from a generator the caller passes;
* :class:`AdaptiveP` - ADA's adjustment of ``p`` toward a target ``r_t = E[sign(D(real))]``;
* :class:`Draws` - one process's slice of the global batch's draws (torchrun).
"""

from earthmover.augment.adaptive import AdaptiveP
from earthmover.augment.draws import Draws
from earthmover.augment.policy import DEFAULT_POLICY, Augment, parse_policy
from earthmover.augment.transforms import AUGMENTATIONS

__all__ = ["AUGMENTATIONS", "DEFAULT_POLICY", "AdaptiveP", "Augment", "Draws", "parse_policy"]
