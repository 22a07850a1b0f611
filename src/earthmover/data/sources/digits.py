"""scikit-learn's 8x8 handwritten digits (1797 images, shipped inside scikit-learn).

Values 0..16 are scaled to 0..255 (``round(v * 255 / 16)``). The split is fixed: the first 1500
images are ``train``, the remaining 297 are ``test``."""

from __future__ import annotations

import numpy as np

from earthmover.data.sources.registry import ImageSource, register

__all__ = ["load_digits", "DIGITS_TRAIN"]

DIGITS_TRAIN = 1500


def load_digits(split: str):
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    values = digits.images  # (1797, 8, 8) float64 in 0..16
    images = np.rint(values * (255.0 / 16.0)).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    part = slice(0, DIGITS_TRAIN) if split == "train" else slice(DIGITS_TRAIN, None)
    return images[part], labels[part], f"digits:{split}", [str(d) for d in range(10)]


register(
    ImageSource(
        "digits",
        lambda split, cache_dir=None, limit=None, argument="": load_digits(split),
        "scikit-learn's 8x8 handwritten digits, 1,500 train / 297 test",
        splits=("train", "test"),
        test_split="test",
        labels=True,
        checksum="shipped inside scikit-learn (no download)",
    )
)
