"""The augmentation a run applies to every image its critic sees: a policy of registered transforms, each
applied to a sample with probability ``p``.

Where it goes (DiffAugment's recipe, Zhao et al. 2020, Algorithm 1): the same policy ``T`` is applied to
real and generated images in the critic step and to generated images in the generator step, with the
generator's gradient flowing through ``T``; a penalty's points are taken between augmented reals and
augmented fakes (the authors' code interpolates ``T(x)`` and ``T(G(z))``), so the critic is regularized
where it is evaluated. A real batch and a fake batch each take their own draws.

Draws: for each transform in policy order, one gate ``u < p`` per sample, then the transform's own
parameters. The transform is computed for every sample and kept where the gate is open, so the number of
draws never depends on ``p`` or on the gates: a run whose ``p`` is adapted stays aligned with its resume,
and each process of a torchrun job takes exactly its slice of the global batch's draws.
"""

from __future__ import annotations

import torch
from torch import Tensor

from earthmover.augment.draws import as_draws, uniform
from earthmover.augment.transforms import AUGMENTATIONS
from earthmover.errors import EarthmoverError

DEFAULT_POLICY = "translation,cutout,color"
"""The policy of the DiffAugment paper's CIFAR-10 runs with 10% and 20% of the data."""


def parse_policy(policy: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Transform names from ``"translation,cutout,color"`` (or a list), each checked against the registry
    (an unknown one is refused with the nearest registered name); repeated names are refused."""
    names = [n.strip() for n in policy.split(",")] if isinstance(policy, str) else [str(n).strip() for n in policy]
    names = [n for n in names if n]
    for name in names:
        AUGMENTATIONS[name]  # raises: unknown augmentation 'transl'; did you mean 'translation'?
    if len(set(names)) != len(names):
        raise EarthmoverError(f"augmentation policy {policy!r} names a transform twice; name each once")
    return tuple(names)


def check_probability(p: float, name: str = "augment.p") -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise EarthmoverError(f"{name} = {p!r} is invalid; expected a probability in [0, 1] (DiffAugment uses 1)")
    return p


class Augment:
    """A policy of differentiable transforms applied with probability ``p`` per sample and transform.

    Args:
        policy: transform names, comma-separated, applied in that order (see ``AUGMENTATIONS``).
        p: the probability that each transform is applied to each sample (1: always, DiffAugment).

    Example::

        augment = Augment("translation,cutout,color", p=1.0)
        g = torch.Generator().manual_seed(0)
        scores = critic(augment(real, g))  # one process, the whole batch
        # under torchrun, rank r of the global batch of B holding rows [r*b, (r+1)*b):
        scores = critic(augment(real, g, offset=r * b, total=B))
    """

    def __init__(self, policy: str | list[str] | tuple[str, ...] = DEFAULT_POLICY, p: float = 1.0):
        self.policy = parse_policy(policy)
        self.p = check_probability(p)

    def __repr__(self) -> str:
        return f"Augment(policy={','.join(self.policy)!r}, p={self.p:g})"

    def __call__(self, x: Tensor, generator, offset: int = 0, total: int | None = None) -> Tensor:
        """The batch ``x`` (NCHW) augmented; ``generator`` (a ``torch.Generator``, or a penalties ``Shard``)
        supplies every number, drawn for the global batch of ``total`` rows (default: ``len(x)``) and sliced
        to rows ``[offset, offset + len(x))``."""
        if x.dim() != 4:
            raise EarthmoverError(
                f"augmentation applies to image batches (N, C, H, W), got shape {tuple(x.shape)}; "
                f"2-D toy samples have no pixels to translate, cut out or recolour: drop --augment"
            )
        draws = as_draws(generator, offset, total)
        for name in self.policy:
            gate = uniform(draws, x.shape[0], x) < self.p
            changed = AUGMENTATIONS[name](x, draws)
            x = torch.where(gate.view(-1, 1, 1, 1), changed, x)
        return x

    def state_dict(self) -> dict:
        return {"policy": ",".join(self.policy), "p": self.p}

    def load_state_dict(self, state: dict) -> None:
        """Take ``p`` from a checkpoint; a policy other than this one's is refused (a changed policy would
        change the draws a resumed run takes)."""
        if parse_policy(state["policy"]) != self.policy:
            raise EarthmoverError(
                f"the checkpoint was trained with augmentation policy {state['policy']!r}, this run asks for "
                f"{','.join(self.policy)!r}; resume with --augment.policy {state['policy']} or start a new run"
            )
        self.p = check_probability(state["p"])
