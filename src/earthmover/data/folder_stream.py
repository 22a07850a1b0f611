"""Image folders too large to hold in memory: batches decoded by DataLoader workers as training runs.

When is a folder streamed?
    ``make_stream`` estimates the folder's decoded size, ``files x channels x side x side`` bytes
    (side = ``data.image_size``, else the first image's shorter side; channels = ``data.channels``,
    else the first image's). Above :func:`memory_budget` (default 4 GiB, or
    ``$EARTHMOVER_MEMORY_BUDGET`` such as ``512M`` or ``16G``) the folder is streamed; below it is
    decoded once into one uint8 tensor (and cached, see ``sources.folder``), which is faster.
What a streamed batch is
    Exactly the batch the in-memory :class:`~earthmover.data.streams.ImageStream` would draw with
    the same seed: the same permutations from the same generator, the same drop of each pass's
    last partial batch, and a checkpointable position; so a resumed run continues with the same
    images. Every image is center-cropped and resized to the side above and converted to the
    channels above (so mixed sizes and modes need no option). Workers (up to 8 processes,
    persistent) decode ahead into pinned memory when the run is on a GPU.
Bad files
    A file that cannot be read stops the run with an error naming it; with ``data.skip_bad`` it
    is replaced by another image of the same batch, counted in ``skipped`` and reported once.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from earthmover.data.sources.folder import _read_or_reason, list_folder, read_image
from earthmover.data.streams import ImageStream
from earthmover.errors import EarthmoverError

__all__ = ["FolderStream", "memory_budget", "estimated_bytes"]

DEFAULT_BUDGET = 4 << 30


def memory_budget() -> int:
    """Bytes a decoded image set may take in memory before it is streamed instead."""
    text = os.environ.get("EARTHMOVER_MEMORY_BUDGET", "").strip()
    if not text:
        return DEFAULT_BUDGET
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)i?[bB]?", text)
    if not m:
        raise EarthmoverError(
            f"EARTHMOVER_MEMORY_BUDGET={text!r}: expected a size such as 512M, 4G or 1073741824; fix or unset it"
        )
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def _first_geometry(paths, image_size, channels) -> tuple[int, int]:
    """(channels, side) a folder's images are streamed at, from its first readable file."""
    for path in paths[:100]:
        try:
            first = read_image(path)
        except Exception:  # PIL raises many kinds; the batch that holds this file reports it
            continue
        return channels or first.shape[0], image_size or min(first.shape[1:])
    raise EarthmoverError(f"image file {paths[0]!r}: cannot be read, nor the 99 after it; check the folder")


def estimated_bytes(files, image_size, channels) -> int:
    c, side = _first_geometry([f[0] for f in files], image_size, channels)
    return len(files) * c * side * side


class _Decode(torch.utils.data.Dataset):
    def __init__(self, paths, side, channels):
        self.paths, self.side, self.channels = paths, side, channels

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return i, _read_or_reason((self.paths[i], self.side, self.channels))


class _Batches(torch.utils.data.Sampler):
    """Index batches from a stream position onward, replaying the stream's own permutations."""

    def __init__(self, n, batch_size, generator_state, order, position):
        self.n, self.batch_size = n, batch_size
        self.generator_state, self.order, self.position = generator_state, order, position

    def __iter__(self):
        g = torch.Generator()
        g.set_state(self.generator_state)
        order, position = self.order, self.position
        while True:
            if position + self.batch_size > self.n:
                position, order = 0, torch.randperm(self.n, generator=g)
            yield order[position : position + self.batch_size].tolist()
            position += self.batch_size


class FolderStream(ImageStream):
    """ImageStream's batches, decoded from files by DataLoader workers (see the module docstring).

    A subclass so that the run's monitor treats it as any image stream; ``images`` is a fixed decoded
    sample rather than the whole set."""

    kind = "images"

    def __init__(
        self,
        root: Path,
        batch_size: int,
        seed: int,
        image_size=None,
        channels=None,
        limit=None,
        skip_bad: bool = False,
        device=None,
        workers: int | None = None,
    ):
        files, labels, classes = list_folder(root)
        if limit is not None:
            files, labels = files[:limit], (None if labels is None else labels[:limit])
        if batch_size > len(files):
            raise EarthmoverError(
                f"data.batch_size = {batch_size} is larger than the folder {str(root)!r} ({len(files)} images); "
                f"use a batch size <= {len(files)}"
            )
        self.paths = [f[0] for f in files]
        self.labels = None if labels is None else torch.tensor(labels, dtype=torch.int64)
        self.classes, self.name, self.skip_bad, self.skipped = classes, root.name or str(root), skip_bad, 0
        channels, side = _first_geometry(self.paths, image_size, channels)
        self.sample_shape = (channels, side, side)
        self.batch_size = batch_size
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.workers = (
            workers
            if workers is not None
            else min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)
        )
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.position = 0
        self.order = torch.randperm(len(self.paths), generator=self.generator)
        self._dataset = _Decode(self.paths, side, channels)
        self._iterator: Iterator[tuple[torch.Tensor | None, list, list[int]]] | None = None
        self._images: torch.Tensor | None = None

    def _start(self) -> Iterator[tuple[torch.Tensor | None, list, list[int]]]:
        """The worker processes' batches from the current position (the iterator they fill)."""
        sampler = _Batches(len(self.paths), self.batch_size, self.generator.get_state(), self.order, self.position)
        loader = torch.utils.data.DataLoader(
            self._dataset,
            batch_sampler=sampler,
            num_workers=self.workers,
            collate_fn=self._collate,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            prefetch_factor=4 if self.workers else None,
        )
        return iter(loader)

    def _collate(self, items):
        """(uint8 batch, [(index, reason) of unreadable files]); errors are raised by next_batch, in
        the main process, so they stay one line (a worker's exception comes back with its traceback)."""
        arrays = [a for _, a in items]
        indices = [i for i, _ in items]
        bad = [(i, a) for i, a in items if isinstance(a, str)]
        good = next(((i, a) for i, a in items if not isinstance(a, str)), None)
        if bad:
            if not self.skip_bad or good is None:
                return None, bad, indices
            # an unreadable file is replaced by the batch's first good image (and its label)
            indices = [good[0] if isinstance(a, str) else i for i, a in items]
            arrays = [good[1] if isinstance(a, str) else a for a in arrays]
        return torch.from_numpy(np.stack(arrays)), bad, indices

    def next_batch(self) -> torch.Tensor:
        return self._next()[0]

    def next_labelled_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch and the class labels of its files (their folder's class)."""
        if self.labels is None:
            raise EarthmoverError(f"folder {self.name!r}: its images have no class labels (no class sub-folders)")
        batch, indices = self._next()
        return batch, self.labels[torch.tensor(indices)]

    def _next(self) -> tuple[torch.Tensor, list[int]]:
        if self._iterator is None:
            self._iterator = self._start()
        batch, bad, indices = next(self._iterator)
        if batch is None:
            i, reason = bad[0]
            if self.skip_bad:
                raise EarthmoverError(
                    f"folder {self.name!r}: no image of a batch could be read (first {self.paths[i]!r}); "
                    "check the files"
                )
            raise EarthmoverError(
                f"image file {self.paths[i]!r}: cannot be read ({reason}); "
                "replace or remove it, or pass --data.skip-bad"
            )
        if self.position + self.batch_size > len(self.paths):  # the same bookkeeping as the sampler's
            self.epoch += 1
            self.position = 0
            self.order = torch.randperm(len(self.paths), generator=self.generator)
        self.position += self.batch_size
        if bad:
            if not self.skipped:
                print(
                    f"earthmover: folder {self.name!r}: unreadable image files are replaced within their batch "
                    "(--data.skip-bad); the count is in stream.skipped",
                    file=sys.stderr,
                )
            self.skipped += len(bad)
        batch = batch.to(self.device, non_blocking=True)
        return batch.to(torch.float32).div_(127.5).sub_(1.0), indices

    def _decode(self, indices) -> torch.Tensor:
        arrays = [_read_or_reason((self.paths[i], self.sample_shape[1], self.sample_shape[0])) for i in indices]
        return torch.from_numpy(np.stack([a for a in arrays if not isinstance(a, str)]))

    def reference(self, n: int, seed: int = 12345) -> torch.Tensor:
        """n images chosen by ``seed`` (decoded here), float in [-1, 1]."""
        g = torch.Generator().manual_seed(seed)
        return self._decode(torch.randperm(len(self.paths), generator=g)[:n].tolist()).float().div_(127.5).sub_(1.0)

    @property
    def images(self) -> torch.Tensor:  # type: ignore[override]  # decoded on first use, not held in memory
        """A fixed sample of up to 10,000 images as uint8, for measures against the data (decoded once)."""
        if self._images is None:
            g = torch.Generator().manual_seed(12345)
            self._images = self._decode(torch.randperm(len(self.paths), generator=g)[:10_000].tolist())
        return self._images

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
        self._iterator = None  # the workers restart from the restored position
