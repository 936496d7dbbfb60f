"""Metrics of regression heads: squared and absolute error, and Pearson correlation."""

from __future__ import annotations

import numpy as np


def mean_squared_error(outputs: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean((outputs.reshape(targets.shape) - targets) ** 2))


def mean_absolute_error(outputs: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(np.abs(outputs.reshape(targets.shape) - targets)))


def pearson_correlation(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Linear correlation of predictions and targets; 0 when either is constant (no linear relation)."""
    predictions = outputs.reshape(targets.shape).astype(np.float64).ravel()
    truth = targets.astype(np.float64).ravel()
    if predictions.std() == 0 or truth.std() == 0:
        return 0.0
    return float(np.corrcoef(predictions, truth)[0, 1])
