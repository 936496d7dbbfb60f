"""Probes of clip-level tasks (classification, multi-label, regression) on pooled clip embeddings.

Labels are made here from each clip's stored JSON by the task's label_processor, so fixing a label
processor never forces a re-encode. k-fold tasks hold out each fold in turn; their score is the plain
mean over folds, as published.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from xares.errors import LabelError
from xares.metrics import get_metric
from xares.probes import ProbeResult, split_arrangements
from xares.probes.knn import knn_class_scores
from xares.probes.linear import LinearProbeSettings, train_linear_probe
from xares.store import SplitEmbeddings
from xares.taskconfig import TaskConfig

logger = logging.getLogger(__name__)


def default_label(meta: dict) -> Any:
    return meta["label"]


def make_targets(config: TaskConfig, split: Any, data: SplitEmbeddings) -> np.ndarray:
    """Apply the label processor to every clip; a failure names the task, shard and sample."""
    processor = config.label_processor or default_label
    values = []
    for record in data.samples:
        try:
            values.append(processor(record["meta"]))
        except Exception as exc:
            raise LabelError(
                f"task {config.name!r}, split {split!r}, shard {record['shard']}, sample {record['key']!r}: "
                f"the label_processor could not read {record['meta']!r} ({type(exc).__name__}: {exc}). "
                "Fix the sample's JSON or the task's label_processor."
            ) from exc
    if config.criterion == "CrossEntropyLoss":
        return _class_indices(config, split, data, values)
    targets = np.asarray(values, dtype=np.float32)
    if config.criterion == "BCEWithLogitsLoss" and (
        targets.ndim != 2 or (config.output_dim and targets.shape[1] != config.output_dim)
    ):
        raise LabelError(
            f"task {config.name!r}, split {split!r}: multi-label targets must be multi-hot vectors of length "
            f"output_dim={config.output_dim}; got shape {targets.shape}."
        )
    return targets


def _class_indices(config: TaskConfig, split: Any, data: SplitEmbeddings, values: list) -> np.ndarray:
    limit = config.output_dim
    for record, value in zip(data.samples, values, strict=True):
        is_index = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        if not is_index or value < 0 or (limit is not None and value >= limit):
            expected = f"0..{limit - 1}" if limit else "a non-negative integer"
            raise LabelError(
                f"task {config.name!r}, split {split!r}, shard {record['shard']}, sample {record['key']!r}: "
                f"label {value!r} is not a class index in {expected}. The label_processor must map each "
                "sample's JSON to a class index."
            )
    return np.asarray(values, dtype=np.int64)


def _output_dim(config: TaskConfig, targets: list[np.ndarray]) -> int:
    if config.output_dim:
        return int(config.output_dim)
    if config.criterion == "CrossEntropyLoss":
        return int(max(t.max() for t in targets)) + 1
    if targets[0].ndim == 2:
        return int(targets[0].shape[1])
    return 1


def run_clip_probe(
    config: TaskConfig, splits: dict[Any, SplitEmbeddings], *, seed: int, hop_size_in_ms: float
) -> ProbeResult:
    """Train and score the linear head (and kNN where meaningful) on every train/test arrangement."""
    metric = get_metric(config.metric)
    targets = {split: make_targets(config, split, data) for split, data in splits.items()}
    output_dim = _output_dim(config, list(targets.values()))
    settings = LinearProbeSettings(
        epochs=config.epochs,
        learning_rate=config.learning_rate,
        batch_size=config.batch_size_train,
        criterion=config.criterion,
        seed=seed,
    )
    use_knn = config.do_knn and config.criterion == "CrossEntropyLoss"

    folds = []
    for label, train_splits, valid_split, test_split in split_arrangements(config):
        train_x = np.concatenate([splits[s].pooled for s in train_splits])
        train_y = np.concatenate([targets[s] for s in train_splits])
        test = (splits[test_split].pooled, targets[test_split])
        valid = (splits[valid_split].pooled, targets[valid_split]) if valid_split is not None else None
        fold: dict[str, Any] = {"name": label, "num_train": len(train_x), "num_test": len(test[0])}
        if config.do_mlp:
            outcome = train_linear_probe(
                train=(train_x, train_y),
                valid=valid,
                test=test,
                output_dim=output_dim,
                metric=metric,
                settings=settings,
            )
            fold.update(
                mlp_score=outcome.score, best_epoch=outcome.best_epoch, valid_score=outcome.valid_score
            )
        if use_knn:
            votes = knn_class_scores(
                train_x,
                train_y,
                test[0],
                num_classes=output_dim,
                k=config.knn_k,
                temperature=config.knn_temperature,
            )
            fold["knn_score"] = float(np.mean(np.argmax(votes, axis=1) == test[1]))
        folds.append(fold)
        logger.info("%s %s: %s", config.name, label, {k: v for k, v in fold.items() if k != "name"})

    return ProbeResult.from_folds(folds)
