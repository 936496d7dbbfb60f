"""Metrics of clip classification: accuracy, multi-label mAP, and the EER of binary detection."""

from __future__ import annotations

import warnings

import numpy as np

from xares.metrics.base import Arrays, Kind, Metric, seed_rows, weighted_mean


def accuracy(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of samples whose arg-max class equals the integer target."""
    return float(np.mean(np.argmax(outputs, axis=1) == targets))


def accuracy_record(outputs: np.ndarray, targets: np.ndarray) -> Arrays:
    """Predicted and true class of every clip."""
    outputs = np.asarray(outputs)
    dtype = np.int16 if outputs.shape[-1] < 32_000 else np.int32
    predictions = np.argmax(outputs, axis=1).astype(dtype)
    return {"predictions": predictions, "targets": np.asarray(targets).astype(dtype)}


def weighted_accuracy(arrays: Arrays, weights: np.ndarray) -> np.ndarray:
    correct = (arrays["predictions"] == arrays["targets"]).astype(np.float64)
    return weighted_mean(weights, correct)


def mean_average_precision(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Macro AP over classes, on raw scores; classes without a positive in `targets` are left out.

    scikit-learn gives such classes an AP that depends only on the number of negatives (and warns),
    which says nothing about the encoder; small test sets meet this often. The value is scikit-learn's
    average_precision_score(average="macro") on the other classes, to the bit (binary_average_precision).
    """
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    present = targets.sum(axis=0) > 0
    if not present.any():
        raise ValueError("mAP needs at least one positive target in the evaluation set")
    scores = [binary_average_precision(targets[:, c], outputs[:, c]) for c in np.flatnonzero(present)]
    return float(np.mean(np.asarray(scores, dtype=np.float64)))


def binary_average_precision(positive: np.ndarray, scores: np.ndarray) -> float:
    """The AP of one class as scikit-learn's average_precision_score computes it, with the same
    operations in the same order, so the same float (tests/test_fast_paths.py holds it to that).

    Why not call scikit-learn: importing it costs 1.3 s (SciPy included), paid by every process that
    scores a frame or mAP task, more than the frame probe's whole training. Thresholds are the distinct
    scores from the highest down; precision and recall at each; AP = sum over thresholds of the recall
    gained times the precision there.
    """
    scores = np.asarray(scores)
    if scores.dtype.kind not in "fiu" or scores.dtype.itemsize < 4:
        scores = scores.astype(np.float64)
    if not np.all(np.isfinite(scores)):
        raise ValueError("average precision needs finite scores; got NaN or infinity")
    # Any descending order will do: tied scores form one threshold, and the positives counted up to a
    # threshold do not depend on how its ties are ordered (sums of 0/1 in float64 are exact).
    order = np.argsort(scores)[::-1]
    ranked = scores[order]
    hits = (np.asarray(positive)[order] == 1).astype(np.float64)
    ends = np.concatenate([np.flatnonzero(np.diff(ranked)), [hits.size - 1]])
    true_pos = np.cumsum(hits, dtype=np.float64)[ends]
    false_pos = 1 + ends.astype(np.float64) - true_pos
    predicted = true_pos + false_pos  # >= 1: every threshold predicts at least its own clip
    precision = true_pos / predicted
    recall = true_pos / true_pos[-1] if true_pos[-1] != 0 else np.ones_like(true_pos)
    precision = np.concatenate([precision[::-1], [1.0]])
    recall = np.concatenate([recall[::-1], [0.0]])
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def average_precision_record(outputs: np.ndarray, targets: np.ndarray) -> Arrays:
    """Every clip's outputs (float16) and 0/1 targets, per class."""
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    return {"outputs": outputs.astype(np.float16), "targets": (targets > 0.5).astype(np.uint8)}


def weighted_average_precision(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average precision of one class under each row of `weights` [B, n]; NaN without a positive.

    The same step-wise AP as scikit-learn's average_precision_score (thresholds at distinct scores).
    """
    order = np.argsort(-scores.astype(np.float64), kind="stable")
    ranked = scores[order]
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])
    y = positive[order].astype(np.float64)
    w = weights[:, order].astype(np.float64)
    tp = np.cumsum(w * y, axis=1)[:, ends]
    fp = np.cumsum(w * (1.0 - y), axis=1)[:, ends]
    total = tp[:, -1:]
    gained = np.diff(tp, axis=1, prepend=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        ap = (gained * precision).sum(axis=1) / total[:, 0]
    return np.where(total[:, 0] > 0, ap, np.nan)


def weighted_mean_average_precision(arrays: Arrays, weights: np.ndarray) -> np.ndarray:
    rows = seed_rows(arrays["outputs"], arrays["targets"])
    result = np.empty((len(weights), len(rows)))
    for s, (out, tgt) in enumerate(rows):
        per_class = np.stack(
            [weighted_average_precision(out[:, c], tgt[:, c], weights) for c in range(out.shape[1])], 1
        )
        with warnings.catch_warnings():  # no class with a positive in a replicate: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            result[:, s] = np.nanmean(per_class, axis=1) if per_class.size else np.nan
    return result


def equal_error_rate(outputs: np.ndarray, targets: np.ndarray) -> float:
    """EER of a binary detector: where false-positive and false-negative rates meet.

    The score of the positive class (label 1) is the second column of two-class logits, or the single
    column of a one-output head.
    """
    from sklearn.metrics import roc_curve

    false_pos, true_pos, _ = roc_curve(targets, detection_scores(outputs), pos_label=1)
    false_neg = 1.0 - true_pos
    index = int(np.nanargmin(np.abs(false_neg - false_pos)))
    return float((false_pos[index] + false_neg[index]) / 2.0)


def detection_scores(outputs: np.ndarray) -> np.ndarray:
    """The positive class's score of each clip: logit 1 minus logit 0 of a two-class head, else the
    first (single) output."""
    outputs = np.asarray(outputs)
    if outputs.ndim == 2 and outputs.shape[1] == 2:
        return outputs[:, -1] - outputs[:, 0]
    return outputs.reshape(len(outputs), -1)[:, 0]


def equal_error_rate_record(outputs: np.ndarray, targets: np.ndarray) -> Arrays:
    """Every clip's detection score and its 0/1 target."""
    scores = detection_scores(outputs)
    return {"scores": scores.astype(np.float32), "targets": np.asarray(targets).astype(np.int8)}


def weighted_equal_error_rate(arrays: Arrays, weights: np.ndarray) -> np.ndarray:
    """The EER under weights: the ROC curve with the weights as sample weights (drawn clips only)."""
    from sklearn.metrics import roc_curve

    rows = seed_rows(arrays["scores"], arrays["targets"])
    result = np.full((len(weights), len(rows)), np.nan)
    for s, (score, target) in enumerate(rows):
        for b, w in enumerate(weights):
            keep = w > 0
            if len(np.unique(target[keep])) < 2:
                continue
            fpr, tpr, _ = roc_curve(target[keep], score[keep], pos_label=1, sample_weight=w[keep])
            index = int(np.nanargmin(np.abs((1.0 - tpr) - fpr)))
            result[b, s] = (fpr[index] + 1.0 - tpr[index]) / 2.0
    return result


ACCURACY = Kind("accuracy", weighted_accuracy)  # predictions [S, N] int, targets [S, N] int
AP = Kind("ap", weighted_mean_average_precision)  # outputs [S, N, C] float16, targets [S, N, C] uint8
EER = Kind("eer", weighted_equal_error_rate)  # scores [S, N], targets [S, N]

METRICS = (
    Metric("accuracy", accuracy, kind=ACCURACY, record=accuracy_record),
    Metric("mAP", mean_average_precision, kind=AP, record=average_precision_record),
    Metric("EER", equal_error_rate, higher_is_better=False, kind=EER, record=equal_error_rate_record),
)
KINDS = (ACCURACY, AP, EER)
