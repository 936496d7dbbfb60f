"""Every metric X-ARES reports, in one place, by name.

A metric takes the head's raw outputs (logits or predictions, [N, C]) and the targets and returns a
float. Which direction is better is part of the metric, not of the caller.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_curve


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


def accuracy(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of samples whose arg-max class equals the integer target."""
    return float(np.mean(np.argmax(outputs, axis=1) == targets))


def mean_average_precision(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Macro AP over classes, on raw scores; classes without a positive in `targets` are left out.

    scikit-learn gives such classes an AP that depends only on the number of negatives (and warns),
    which says nothing about the encoder; small test sets meet this often.
    """
    present = targets.sum(axis=0) > 0
    if not present.any():
        raise ValueError("mAP needs at least one positive target in the evaluation set")
    return float(average_precision_score(targets[:, present], outputs[:, present], average="macro"))


def mean_squared_error(outputs: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean((outputs.reshape(targets.shape) - targets) ** 2))


def mean_absolute_error(outputs: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(np.abs(outputs.reshape(targets.shape) - targets)))


def equal_error_rate(outputs: np.ndarray, targets: np.ndarray) -> float:
    """EER of a binary detector: where false-positive and false-negative rates meet.

    The score of the positive class (label 1) is the second column of two-class logits, or the single
    column of a one-output head.
    """
    scores = (
        outputs[:, -1] - outputs[:, 0] if outputs.ndim == 2 and outputs.shape[1] == 2 else outputs.reshape(-1)
    )
    false_pos, true_pos, _ = roc_curve(targets, scores, pos_label=1)
    false_neg = 1.0 - true_pos
    index = int(np.nanargmin(np.abs(false_neg - false_pos)))
    return float((false_pos[index] + false_neg[index]) / 2.0)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", accuracy),
        Metric("mAP", mean_average_precision),
        Metric("MSE", mean_squared_error, higher_is_better=False),
        Metric("MAE", mean_absolute_error, higher_is_better=False),
        Metric("EER", equal_error_rate, higher_is_better=False),
    )
}


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        lowered = {m.lower(): m for m in METRICS}
        close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
        hint = f" Did you mean {lowered[close[0]]!r}?" if close else ""
        raise KeyError(f"unknown metric {name!r}.{hint} Available: {', '.join(sorted(METRICS))}.")
    return METRICS[name]
