"""Every reported number carries what it was computed from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class MetricResult:
    """One metric value with its provenance.

    ``n_samples``: generated (or evaluated) images; ``n_reference``: reference images (0 when the metric
    needs none, as the Inception Score); ``features``: the extractor's name (``"inception"``, ``"digits"``)
    and ``extractor_id`` the exact weights (a hash); ``reference``: the reference split, e.g. ``"mnist:test"``.
    ``std`` is the spread over splits or subsets where the metric defines one.
    """

    name: str
    value: float
    n_samples: int
    n_reference: int
    features: str
    reference: str
    std: float | None = None
    extractor_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __float__(self) -> float:
        return float(self.value)
