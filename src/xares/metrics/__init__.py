"""Every metric X-ARES reports, in one place, by name.

A metric takes the head's raw outputs (logits or predictions, [N, C]) and the targets and returns a
float. Which direction is better is part of the metric, not of the caller.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xares.metrics.classification import accuracy, equal_error_rate, mean_average_precision
from xares.metrics.regression import mean_absolute_error, mean_squared_error, pearson_correlation
from xares.metrics.retrieval import recallatk_r1
from xares.metrics.segment import segment_f1_macro, segment_f1_micro
from xares.metrics.wer import wer_inv


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool = True

    def better(self, candidate: float, incumbent: float | None) -> bool:
        """Strictly better: a tie keeps the earlier epoch, as the published protocol does."""
        if incumbent is None:
            return True
        return candidate > incumbent if self.higher_is_better else candidate < incumbent


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", accuracy),
        Metric("mAP", mean_average_precision),
        Metric("MSE", mean_squared_error, higher_is_better=False),
        Metric("MAE", mean_absolute_error, higher_is_better=False),
        Metric("EER", equal_error_rate, higher_is_better=False),
        Metric("pearson", pearson_correlation),
        Metric("segmentf1_macro", segment_f1_macro),  # takes hop_size_in_ms, segment_length_in_s
        Metric("segmentf1_micro", segment_f1_micro),
        Metric("WER_inv", wer_inv),
        Metric("recallatk_r1", recallatk_r1),
    )
}


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        lowered = {m.lower(): m for m in METRICS}
        close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
        hint = f" Did you mean {lowered[close[0]]!r}?" if close else ""
        raise KeyError(f"unknown metric {name!r}.{hint} Available: {', '.join(sorted(METRICS))}.")
    return METRICS[name]
