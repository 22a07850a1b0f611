"""Batches for the training loop, with a position that a checkpoint can save.

A stream yields the *global* batch (all processes draw the same one from the
same generator; each process then keeps its own shard), so that a run on N
processes sees exactly the data of a run on one.
"""
from __future__ import annotations


import torch

from earthmover.data.toy import TOY_DISTRIBUTIONS, make_toy
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
    """Shuffled passes over an image set held in memory as float [-1, 1]; the last partial batch of
    each pass is dropped. The position (pass, permutation, index) is part of the checkpoint."""

    kind = "images"

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int, labels: torch.Tensor | None = None, name: str = ""):
        if len(images) == 0:
            raise EarthmoverError(f"the dataset {name!r} is empty; point data.name at a source with images")
        if batch_size > len(images):
            raise EarthmoverError(
                f"data.batch_size = {batch_size} is larger than the dataset {name!r} ({len(images)} images); "
                f"use a batch size <= {len(images)}"
            )
        self.images, self.labels, self.name = images, labels, name
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.sample_shape = tuple(images.shape[1:])
        self.epoch = 0
        self.position = 0
        self.order = torch.randperm(len(images), generator=self.generator)

    def next_batch(self) -> torch.Tensor:
        if self.position + self.batch_size > len(self.images):
            self.epoch += 1
            self.position = 0
            self.order = torch.randperm(len(self.images), generator=self.generator)
        idx = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.images[idx]

    def reference(self, n: int, seed: int = 12345) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return self.images[torch.randperm(len(self.images), generator=g)[:n]]

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "epoch": self.epoch, "position": self.position, "order": self.order}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.epoch, self.position, self.order = int(state["epoch"]), int(state["position"]), state["order"]


def make_stream(data_config, seed: int):
    """The stream for ``config.data``: a toy distribution by name, else an image source."""
    if data_config.name in TOY_DISTRIBUTIONS:
        return ToyStream(data_config.name, data_config.batch_size, seed)
    from earthmover.data.images import load_images

    image_set = load_images(
        data_config.name,
        split="train",
        image_size=data_config.image_size or None,
        channels=data_config.channels or None,
        limit=data_config.limit or None,
    )
    return ImageStream(image_set.to_float(), data_config.batch_size, seed, image_set.labels, image_set.name)
