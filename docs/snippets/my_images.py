# my_images.py: an image source and a metric as plug-ins (one module; tests/test_docs.py trains with it).
# PYTHONPATH=. earthmover --plugins my_images train --data stripes --arch mlp --run.eval-metrics brightness
import numpy as np

from earthmover.data.sources.registry import ImageSource, register
from earthmover.metrics.registry import METRICS, Metric


def load_stripes(split, cache_dir=None, limit=None, argument=""):
    """8x8 stripes: 512 training images (a batch of the default 256 must fit), 32 test images, one class;
    nothing downloaded."""
    rows = (np.arange(8) % 2).astype(np.uint8) * 255
    images = np.broadcast_to(rows[None, :, None], (512 if split == "train" else 32, 8, 8)).copy()
    return images, np.zeros(len(images), dtype=np.int64), f"stripes:{split}", ["stripe"]


register(
    ImageSource(
        "stripes",
        load_stripes,
        "8x8 stripes",
        splits=("train", "test"),
        test_split="test",  # what a run's in-loop metrics are scored against
        labels=True,
        checksum="generated, nothing downloaded",
    )
)


def brightness(x):
    """The mean pixel value of the generated samples, in [-1, 1]."""
    return [x.result("brightness", float(x.samples.mean()))]


METRICS.register("brightness", Metric("brightness", brightness, "mean pixel value", needs=("features", "samples")))
