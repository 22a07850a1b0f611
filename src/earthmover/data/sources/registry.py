"""Named image sources (``data.name = "mnist"``, ``"digits:test"``, ``"torchvision:CIFAR10"``), in one registry.

An :class:`ImageSource` declares everything the rest of the library asks about a named dataset: its
splits, the split FID scores against, whether it has labels, how its bytes are verified, and how to
load it. :func:`earthmover.data.images.load_images`, the run's evaluation defaults
(:mod:`earthmover.metrics.defaults`), the ``data.name`` check and every error message read this
registry, so a new dataset is one :func:`register` call (in its own module, or a plug-in's)::

    register(ImageSource("stripes", load_stripes, splits=("train", "test"), test_split="test"))

``load(split, cache_dir=None, limit=None, argument="")`` returns ``(images, labels or None,
"NAME:SPLIT", class names or None)``; images are uint8 (or float in [0, 1]) ``(N, H, W)``,
``(N, H, W, C)`` or ``(N, C, H, W)``, as :func:`earthmover.data.image_set.as_uint8_nchw` accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from earthmover.registry import Registry


@dataclass(frozen=True)
class ImageSource:
    """One named image source."""

    name: str
    load: Callable[..., tuple[Any, Any, str, Any]]
    """``load(split, cache_dir=None, limit=None, argument="")`` -> (images, labels, "NAME:SPLIT", classes)."""
    summary: str = ""
    """One line for listings and the docs."""
    splits: tuple[str, ...] = ("train", "test")
    """The splits ``NAME:SPLIT`` may name; the first is the default."""
    test_split: str | None = "test"
    """The split a run's FID is scored against (None: the training images themselves)."""
    labels: bool = True
    """Whether the images come with class labels (conditional runs need them)."""
    checksum: str = ""
    """How the bytes are verified (e.g. SHA-256 of the original files), for the docs."""
    argument: str = ""
    """Non-empty when the text after ``NAME:`` is an argument rather than a split (``torchvision:NAME``)."""

    @property
    def spelled(self) -> str:
        """How a user writes it: ``mnist`` or ``torchvision:NAME``."""
        return f"{self.name}:{self.argument}" if self.argument else self.name

    def names(self) -> list[str]:
        """Every full name a user may write (for nearest-name hints)."""
        if self.argument:
            return [self.spelled]
        return [self.name, *(f"{self.name}:{s}" for s in self.splits)]


IMAGE_SOURCES: Registry[ImageSource] = Registry(
    "image source", "named image datasets a run names with data.name (data/sources/*.py register theirs)"
)


def register(source: ImageSource, *, replace: bool = False) -> ImageSource:
    """Add a named image source (built-in modules and plug-ins alike)."""
    return IMAGE_SOURCES.register(source.name.lower(), source, replace=replace)


def named_sources() -> list[str]:
    """Every registered full name (``mnist``, ``mnist:test``, ..., ``torchvision:NAME``), for hints."""
    return [n for source in IMAGE_SOURCES.values() for n in source.names()]


def sources_text() -> str:
    """The registered sources as a user writes them, for one-line messages: ``mnist, ..., torchvision:NAME``."""
    return ", ".join(source.spelled for source in IMAGE_SOURCES.values())


def test_split_of(head: str) -> str | None:
    """``NAME:TEST`` for a registered source that declares a test split, else None."""
    source = IMAGE_SOURCES.get(head.lower())
    if source is None or source.argument or not source.test_split:
        return None
    return f"{source.name}:{source.test_split}"
