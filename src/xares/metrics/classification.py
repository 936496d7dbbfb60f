"""Metrics of clip classification: accuracy, multi-label mAP, and the EER of binary detection."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_curve


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
