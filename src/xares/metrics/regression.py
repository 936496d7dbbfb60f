"""Metrics of regression heads: squared and absolute error, and Pearson correlation."""

from __future__ import annotations

from functools import partial

import numpy as np

from xares.metrics.base import Arrays, Kind, Metric, weighted_mean


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


def regression_record(outputs: np.ndarray, targets: np.ndarray) -> Arrays:
    """Every clip's prediction and target (float32), the record of all three regression metrics."""
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    return {
        "outputs": outputs.reshape(targets.shape).astype(np.float32),
        "targets": targets.astype(np.float32),
    }


def weighted_mean_error(arrays: Arrays, weights: np.ndarray, power: int) -> np.ndarray:
    """The weighted mean of every clip's mean |error| ** power (2: MSE, 1: MAE)."""
    diff = np.abs(arrays["outputs"].astype(np.float64) - arrays["targets"].astype(np.float64)) ** power
    return weighted_mean(weights, diff.reshape(diff.shape[0], diff.shape[1], -1).mean(axis=2))  # [S, n]


def weighted_pearson_correlation(arrays: Arrays, weights: np.ndarray) -> np.ndarray:
    """Pearson's r from weighted moments; 0 where either side has (almost) no variance."""
    outputs = arrays["outputs"].reshape(arrays["outputs"].shape[0], weights.shape[1]).astype(np.float64)
    targets = arrays["targets"].reshape(arrays["targets"].shape[0], weights.shape[1]).astype(np.float64)
    outputs, targets = np.broadcast_arrays(outputs, targets)
    total = weights.sum(1, keepdims=True).astype(np.float64)  # [B, 1]
    result = np.empty((len(weights), len(outputs)))
    for s in range(len(outputs)):
        mean_x = weights @ outputs[s] / total[:, 0]
        mean_y = weights @ targets[s] / total[:, 0]
        cov = weights @ (outputs[s] * targets[s]) / total[:, 0] - mean_x * mean_y
        var_x = weights @ (outputs[s] ** 2) / total[:, 0] - mean_x**2
        var_y = weights @ (targets[s] ** 2) / total[:, 0] - mean_y**2
        with np.errstate(invalid="ignore", divide="ignore"):
            r = cov / np.sqrt(var_x * var_y)
        result[:, s] = np.where((var_x <= 1e-12) | (var_y <= 1e-12), 0.0, r)
    return result


# outputs [S, N, ...], targets [S, N, ...]
MSE = Kind("mse", partial(weighted_mean_error, power=2))
MAE = Kind("mae", partial(weighted_mean_error, power=1))
PEARSON = Kind("pearson", weighted_pearson_correlation)

METRICS = (
    Metric("MSE", mean_squared_error, higher_is_better=False, kind=MSE, record=regression_record),
    Metric("MAE", mean_absolute_error, higher_is_better=False, kind=MAE, record=regression_record),
    Metric("pearson", pearson_correlation, kind=PEARSON, record=regression_record),
)
KINDS = (MSE, MAE, PEARSON)
