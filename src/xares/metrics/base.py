"""What a metric is: one object with its value, its per-clip record and its weighted form.

A metric's value is computed from the head's outputs and the targets. Its per-clip record keeps, for
every test clip, what the value needs (the predicted class, segment counts, word edits ...) as arrays
with the clip axis first, under a *kind* that names how those arrays are aggregated. The kind's
weighted form scores the record under weights [B, n] over the clips: a bootstrap replicate is such a
weighting (clip i drawn c_i times gets weight c_i), and with all weights 1 it gives the metric's value.
So intervals and paired tests re-aggregate the metric's own per-clip values and need no second
implementation of the metric.

The kind names (accuracy, ap, eer, mse, mae, pearson, f1_macro, f1_micro, ratio, mean_ratio, wer_inv)
are stored in score caches and results.json, so they never change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray]
# Takes the arrays of one fold ([S or 1, n, ...], S seeds) and weights [B, n]; returns scores [B, S].
Weighted = Callable[[Arrays, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Kind:
    """A per-clip record's vocabulary name and the statistic that aggregates it under weights."""

    name: str
    weighted: Weighted


@dataclass(frozen=True)
class Metric:
    """One metric, declared once: `compute(outputs, targets, **args)` is its value; `record(...)` the
    per-clip arrays of the same inputs, aggregated by `kind.weighted`; higher_is_better its direction.

    A metric without a per-clip form (kind None) gets no interval.
    """

    name: str
    compute: Callable[..., float]
    higher_is_better: bool = True
    kind: Kind | None = None
    record: Callable[..., Arrays] | None = None

    def better(self, candidate: float, incumbent: float | None) -> bool:
        """Strictly better: a tie keeps the earlier epoch, as the published protocol does."""
        if incumbent is None:
            return True
        return candidate > incumbent if self.higher_is_better else candidate < incumbent

    def per_clip(self, *inputs: Any, **args: Any) -> tuple[str, Arrays]:
        """(kind name, per-clip arrays) of the inputs `compute` takes: what a ClipRecord holds."""
        if self.kind is None or self.record is None:
            raise ValueError(f"no per-clip record for metric {self.name!r}")
        return self.kind.name, self.record(*inputs, **args)

    def weighted(self, arrays: Arrays, weights: np.ndarray) -> np.ndarray:
        """The metric of per-clip arrays [S or 1, n, ...] under each row of weights [B, n]: [B, S]."""
        if self.kind is None:
            raise ValueError(f"no per-clip record for metric {self.name!r}")
        return self.kind.weighted(arrays, weights)


def weighted_ratio(weights: np.ndarray, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """sum w * numerator / sum w * denominator of every seed under every row of weights: [B, S]."""
    num = weights @ numerator.reshape(len(numerator), weights.shape[1]).T.astype(np.float64)
    den = weights @ denominator.reshape(len(denominator), weights.shape[1]).T.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def weighted_mean(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The weighted mean of per-clip values [S, n]: a ratio over a denominator of 1 per clip."""
    return weighted_ratio(weights, values, np.ones((1, weights.shape[1])))


def seed_rows(*arrays: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """Each seed's rows of arrays [S or 1, ...]: an array kept once (S = 1) serves every seed."""
    return [tuple(a[min(s, len(a) - 1)] for a in arrays) for s in range(max(len(a) for a in arrays))]


def _ratio(arrays: Arrays, weights: np.ndarray) -> np.ndarray:
    return weighted_ratio(weights, arrays["numerator"], arrays["denominator"])


def _mean_ratio(arrays: Arrays, weights: np.ndarray) -> np.ndarray:
    parts = [
        weighted_ratio(weights, arrays["numerator"][..., r], arrays["denominator"][..., r])
        for r in range(arrays["numerator"].shape[-1])
    ]
    return np.mean(parts, axis=0)


# Pooled ratios that several metrics' records use: recall@k and mAP@10 of retrieval, the WER.
RATIO = Kind("ratio", _ratio)  # numerator [S, n], denominator [S, n]
MEAN_RATIO = Kind("mean_ratio", _mean_ratio)  # numerator [S, n, R], denominator [S, n, R]: mean over r


def ratio_record(numerator: np.ndarray, denominator: np.ndarray) -> tuple[str, Arrays]:
    """A per-clip score of the pooled-ratio kind: sum numerator / sum denominator over the drawn clips."""
    return RATIO.name, {"numerator": numerator, "denominator": denominator}
