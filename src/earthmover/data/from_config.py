"""The data stream that a config's ``data`` section names: a toy distribution, an image source held in
memory, or an image folder streamed by DataLoader workers when it is larger than the memory budget."""

from __future__ import annotations

import torch

from earthmover.data.folder_stream import FolderStream, estimated_bytes, memory_budget
from earthmover.data.images import folder_of, load_images
from earthmover.data.sources.folder import list_folder
from earthmover.data.streams import ImageStream, ToyStream
from earthmover.data.toy import TOY_DISTRIBUTIONS


def make_stream(data_config, seed: int, device: torch.device | str | None = None) -> ToyStream | ImageStream:
    """The stream for ``config.data``: a toy distribution by name, else an image source (its
    uint8 images kept on ``device`` when given); an image folder larger than the memory budget
    is streamed by DataLoader workers instead (``earthmover.data.folder_stream``)."""
    if data_config.name in TOY_DISTRIBUTIONS:
        return ToyStream(data_config.name, data_config.batch_size, seed)
    folder = folder_of(data_config.name)
    if folder is not None:
        files = list_folder(folder)[0][: data_config.limit or None]
        if estimated_bytes(files, data_config.image_size or None, data_config.channels or None) > memory_budget():
            return FolderStream(
                folder,
                data_config.batch_size,
                seed,
                image_size=data_config.image_size or None,
                channels=data_config.channels or None,
                limit=data_config.limit or None,
                skip_bad=bool(getattr(data_config, "skip_bad", False)),
                device=device,
            )
    image_set = load_images(
        data_config.name,
        image_size=data_config.image_size or None,
        channels=data_config.channels or None,
        limit=data_config.limit or None,
        skip_bad=bool(getattr(data_config, "skip_bad", False)),
    )
    stream = ImageStream(
        image_set.images, data_config.batch_size, seed, image_set.labels, image_set.name, device=device
    )
    stream.source = data_config.name  # what the user named (mnist: its test split is the metrics' reference)
    return stream
