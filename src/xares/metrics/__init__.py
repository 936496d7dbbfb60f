"""Every metric X-ARES reports, in one place, by name, each declared once (see xares.metrics.base).

A metric takes the head's raw outputs (logits or predictions, [N, C]) and the targets and returns a
float; its per-clip record and weighted form serve the bootstrap intervals and paired tests of
xares.stats. Which direction is better is part of the metric, not of the caller. KINDS holds the
weighted statistic of every per-clip record kind that score caches and results.json may name.

scikit-learn and SciPy are imported by the functions that use them, so importing this is cheap.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TypeVar

from xares.metrics import classification, generated, regression, retrieval, segment, wer
from xares.metrics.base import MEAN_RATIO, RATIO, Kind, Metric

__all__ = ["KINDS", "METRICS", "Kind", "Metric", "get_metric"]

_Named = TypeVar("_Named", Metric, Kind)


def _register(entries: Iterable[_Named]) -> dict[str, _Named]:
    """By name; a name declared twice is a bug in this package and fails at import."""
    registry: dict[str, _Named] = {}
    for entry in entries:
        if entry.name in registry:
            raise RuntimeError(f"{type(entry).__name__} {entry.name!r} is declared twice in xares.metrics")
        registry[entry.name] = entry
    return registry


METRICS: dict[str, Metric] = _register(
    classification.METRICS
    + regression.METRICS
    + segment.METRICS
    + wer.METRICS
    + retrieval.METRICS
    + generated.METRICS
)
KINDS: dict[str, Kind] = _register(
    classification.KINDS + regression.KINDS + segment.KINDS + wer.KINDS + (RATIO, MEAN_RATIO)
)


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        lowered = {m.lower(): m for m in METRICS}
        close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
        hint = f" Did you mean {lowered[close[0]]!r}?" if close else ""
        raise KeyError(f"unknown metric {name!r}.{hint} Available: {', '.join(sorted(METRICS))}.")
    return METRICS[name]
