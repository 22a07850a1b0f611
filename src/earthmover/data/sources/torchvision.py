"""``torchvision:NAME``: a dataset class of ``torchvision.datasets`` (``torchvision:MNIST``,
``torchvision:CIFAR10``, ...) with ``root=<cache dir>/torchvision`` and ``download=True``.
Needs torchvision (the extra ``pip install -e ".[vision]"`` from the clone). PyPI's torchvision wheels are built
against one torch release each and do not import beside torch 2.13.0; use a torchvision built for your torch."""

from __future__ import annotations

import inspect

import numpy as np
import torch

from earthmover.data.download import default_cache_dir
from earthmover.data.sources.registry import ImageSource, register
from earthmover.errors import EarthmoverError, did_you_mean

__all__ = ["load_torchvision"]

SPLITS = ("train", "test")


def load_torchvision(dataset: str, split: str, cache_dir, limit):
    try:
        import torchvision  # noqa: F401
        import torchvision.datasets as tv_datasets
    except Exception as err:  # ImportError, or an OSError/RuntimeError when torch and torchvision mismatch
        raise EarthmoverError(
            f"source 'torchvision:{dataset}' needs torchvision, which failed to import ({type(err).__name__}); "
            'install a torchvision built for your torch (pip install -e ".[vision]" from the clone pulls PyPI\'s, '
            "which does not import beside torch 2.13.0), "
            "or use a local .npz/IDX/folder instead"
        ) from None
    names = [n for n in dir(tv_datasets) if n[:1].isupper() and isinstance(getattr(tv_datasets, n), type)]
    if not dataset or dataset not in names:
        hint = did_you_mean(dataset, names, prefix="torchvision:").removeprefix("; ")
        raise EarthmoverError(
            f"source 'torchvision:{dataset}': no such torchvision dataset; {hint + ' ' if hint else ''}"
            f"e.g. torchvision:MNIST, torchvision:CIFAR10"
        )
    cls = getattr(tv_datasets, dataset)
    params = inspect.signature(cls).parameters
    kwargs = {"root": str(default_cache_dir(cache_dir) / "torchvision"), "download": True}
    if "train" in params:
        if split not in SPLITS:
            raise EarthmoverError(f"split {split!r} for torchvision:{dataset}: expected one of {', '.join(SPLITS)}")
        kwargs["train"] = split == "train"
    elif "split" in params:
        kwargs["split"] = split
    try:
        ds = cls(**kwargs)
    except Exception as err:
        raise EarthmoverError(
            f"torchvision:{dataset} (split {split!r}) failed to load: {err}; check the split and your connection"
        ) from None
    data = getattr(ds, "data", None)
    targets = getattr(ds, "targets", getattr(ds, "labels", None))
    if data is not None and hasattr(data, "shape") and len(getattr(data, "shape", ())) in (3, 4):
        images = data if isinstance(data, torch.Tensor) else np.asarray(data)
        labels = None if targets is None else np.asarray(targets)
    else:  # datasets that only yield (PIL image, target) pairs
        count = len(ds) if limit is None else min(limit, len(ds))
        pairs = [ds[i] for i in range(count)]
        images = np.stack([np.asarray(p[0]) for p in pairs])
        labels = np.asarray([p[1] for p in pairs]) if isinstance(pairs[0][1], (int, np.integer)) else None
    classes = list(getattr(ds, "classes", []) or []) or None
    return images, labels, f"torchvision:{dataset}:{split}", classes


register(
    ImageSource(
        "torchvision",
        lambda split, cache_dir=None, limit=None, argument="": load_torchvision(argument, split, cache_dir, limit),
        "a torchvision.datasets class (torchvision:MNIST, torchvision:CIFAR10, ...); "
        "needs a torchvision built for your torch",
        splits=SPLITS,
        test_split=None,
        labels=True,
        checksum="torchvision's own",
        argument="NAME",
    )
)
