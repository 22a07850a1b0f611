"""Batches for the training loop, with a position that a checkpoint can save.

A stream yields the *global* batch (all processes draw the same one from the
same generator; each process then keeps its own shard), so that a run on N
processes sees exactly the data of a run on one.

A stream only yields batches (and ``reference`` data drawn from a fixed seed) and saves its
position (``state_dict`` / ``load_state_dict``); what a run measures, evaluates and draws of its
data is the run's monitor (:mod:`earthmover.train.monitor`).
"""

from __future__ import annotations

import torch

from earthmover.data.toy import make_toy
from earthmover.errors import EarthmoverError


class ToyStream:
    """Fresh samples of a toy distribution every batch (an infinite dataset)."""

    kind = "toy"

    def __init__(self, name: str, batch_size: int, seed: int):
        self.distribution = make_toy(name)
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.sample_shape = (2,)

    def next_batch(self) -> torch.Tensor:
        return self.distribution.sample(self.batch_size, self.generator)

    def reference(self, n: int, seed: int = 12345) -> torch.Tensor:
        """n samples of the data from a fixed seed, for measures and plots (touches no training RNG)."""
        return self.distribution.sample(n, torch.Generator().manual_seed(seed))

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


class ImageStream:
    """Shuffled passes over an image set held in memory; the last partial batch of each pass is
    dropped. The position (pass, permutation, index) is part of the checkpoint.

    The images stay uint8 ``(N, C, H, W)``, one tensor, on ``device`` when one is given (a quarter
    of float32's memory, and no host-to-device copy per step); a batch is gathered by index and
    mapped to float32 ``[-1, 1]`` (``x / 127.5 - 1``, as ``ImageSet.to_float``). ``images`` is the
    host copy, for measures; float images are accepted and served as they are."""

    kind = "images"
    source: str  # what the user named in data.name, set by make_stream (not by every stream)

    def __init__(
        self,
        images: torch.Tensor,
        batch_size: int,
        seed: int,
        labels: torch.Tensor | None = None,
        name: str = "",
        device: torch.device | str | None = None,
    ):
        if len(images) == 0:
            raise EarthmoverError(f"the dataset {name!r} is empty; point data.name at a source with images")
        if batch_size > len(images):
            raise EarthmoverError(
                f"data.batch_size = {batch_size} is larger than the dataset {name!r} ({len(images)} images); "
                f"use a batch size <= {len(images)}"
            )
        self.images, self.labels, self.name = images, labels, name
        self.storage = images if device is None else images.to(device)
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.sample_shape = tuple(images.shape[1:])
        self.epoch = 0
        self.position = 0
        self.order = torch.randperm(len(images), generator=self.generator)

    def _gather(self, idx: torch.Tensor) -> torch.Tensor:
        batch = self.storage.index_select(0, idx.to(self.storage.device, non_blocking=True))
        return batch.to(torch.float32).div_(127.5).sub_(1.0) if batch.dtype == torch.uint8 else batch

    def _next_indices(self) -> torch.Tensor:
        if self.position + self.batch_size > len(self.images):
            self.epoch += 1
            self.position = 0
            self.order = torch.randperm(len(self.images), generator=self.generator)
        idx = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return idx

    def next_batch(self) -> torch.Tensor:
        return self._gather(self._next_indices())

    @property
    def num_classes(self) -> int:
        """Classes of a labelled source (labels 0 .. n - 1), 0 without labels."""
        return 0 if self.labels is None or not len(self.labels) else int(self.labels.max()) + 1

    def next_labelled_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch and its class labels (the same position and order as :meth:`next_batch`)."""
        idx = self._next_indices()
        return self._gather(idx), self.labels.index_select(0, idx).long()  # type: ignore[union-attr]  # labelled

    def reference(self, n: int, seed: int = 12345) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return self._gather(torch.randperm(len(self.images), generator=g)[:n]).cpu()

    def state_dict(self) -> dict:
        return {
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
            "position": self.position,
            "order": self.order,
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.epoch, self.position, self.order = int(state["epoch"]), int(state["position"]), state["order"]
