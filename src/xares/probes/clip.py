"""Probes of clip-level tasks (classification, multi-label, regression) on pooled clip embeddings.

Labels are made here from each clip's stored JSON by the task's label_processor, so fixing a label
processor never forces a re-encode. k-fold tasks hold out each fold in turn; their score is the plain
mean over folds, as published.

Protocols (`context.protocol`, see xares.protocols):

- "published": the documented kNN (each clip normalised over its dimensions) and model selection as
  published: the epoch is chosen on the validation split, which for k-fold tasks is the held-out
  fold and for some tasks is the test split itself, so selection sees the test data.
- "strict": selection never sees test data. k-fold tasks select on the next fold (held-out fold k,
  validation fold k+1, training on the others); tasks whose validation split is their test split
  select on a validation set carved out of the training data (10% of its clips, per class, fixed by
  the task's seed). The kNN, which selects nothing, is as published.
- "xares-0.1.3": the public implementation's kNN, with the training matrix normalised per feature
  dimension (see xares.probes.knn); selection as published. (Other heads have their own
  xares-0.1.3 variants: see xares.protocols.)

Each fold also keeps its per-clip test data (xares.stats.ClipRecord) under "per_clip", from which
XaresTask builds bootstrap intervals, per-class scores and confusion matrices.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xares.errors import LabelError
from xares.metrics import get_metric
from xares.probes import ProbeContext, ProbeResult, read_label, split_arrangements
from xares.probes.knn import knn_class_scores
from xares.probes.linear import LinearProbeSettings, train_linear_probe
from xares.probes.training import task_schedule
from xares.stats import ClipRecord, classification_scores, clip_keys, head_scores, infer_class_names
from xares.store import SplitEmbeddings
from xares.taskconfig import TaskConfig

logger = logging.getLogger(__name__)


def default_label(meta: dict) -> Any:
    return meta["label"]


def make_targets(config: TaskConfig, split: Any, data: SplitEmbeddings) -> np.ndarray:
    """Apply the label processor to every clip; a failure names the task, shard and sample."""
    processor = config.label_processor or default_label
    values = [read_label(processor, config, split, record) for record in data.samples]
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


REGRESSION_CRITERIA = ("MSELoss", "L1Loss")
REGRESSION_METRICS = ("MSE", "MAE", "pearson")  # all reported for a regression head
VALIDATION_FRACTION = 0.1  # of the training clips, carved out as validation set under "strict"
Part = tuple[Any, "np.ndarray | None"]  # (split, indices of its clips or None for all of them)


@dataclass
class Arrangement:
    """One trained head: what it trains on, selects on and is tested on, and the kNN's reference set."""

    label: str
    train: list[Part]
    valid: list[Part]  # empty: no selection, the last epoch is kept
    test: Any
    knn_train: list[Any]
    selection: str
    selection_on_test: bool


def carve_validation(
    data: SplitEmbeddings, targets: np.ndarray, *, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) clip indices of one split: whole clips (all crops together), a `fraction` of
    each class for class indices, at least one clip when there are two or more."""
    groups: dict[tuple[str, str], list[int]] = {}
    for index, record in enumerate(data.samples):
        groups.setdefault((str(record.get("shard")), str(record["key"])), []).append(index)
    members = list(groups.values())
    strata: dict[Any, list[int]] = {}
    for g, indices in enumerate(members):
        label = targets[indices[0]].item() if targets.ndim == 1 and targets.dtype.kind in "iu" else 0
        strata.setdefault(label, []).append(g)
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for label in sorted(strata):
        group_ids = strata[label]
        take = int(round(fraction * len(group_ids)))
        chosen += [group_ids[i] for i in rng.permutation(len(group_ids))[:take]]
    if not chosen and len(members) >= 2:
        chosen = [int(rng.integers(len(members)))]
    valid = sorted(i for g in chosen for i in members[g])
    train = sorted(set(range(len(data))) - set(valid))
    return np.asarray(train, dtype=np.int64), np.asarray(valid, dtype=np.int64)


def clip_arrangements(
    config: TaskConfig, protocol: str, splits: dict[Any, SplitEmbeddings], targets: dict[Any, np.ndarray]
) -> list[Arrangement]:
    """The heads a clip task trains under `protocol` (see the module notes)."""
    folds = list(config.k_fold_splits or [])
    arrangements = []
    for label, train_splits, valid_split, test_split in split_arrangements(config):
        train, valid, on_test = [(s, None) for s in train_splits], [(valid_split, None)], False
        if valid_split is None:
            valid, selection = [], "last epoch"
        elif valid_split != test_split:
            selection = f"validation split {valid_split!r}"
        elif protocol != "strict":
            what = "held-out fold" if config.is_kfold else "test split"
            selection, on_test = f"{what} {test_split!r} (as published)", True
        elif config.is_kfold and len(folds) >= 3:
            following = folds[(folds.index(test_split) + 1) % len(folds)]
            train = [(s, None) for s in train_splits if s != following]
            valid, selection = [(following, None)], f"next fold {following!r}"
        else:
            train, valid = [], []
            for split in train_splits:
                kept, carved = carve_validation(
                    splits[split], targets[split], fraction=VALIDATION_FRACTION, seed=config.seed
                )
                train.append((split, kept))
                if len(carved):
                    valid.append((split, carved))
            selection = f"{VALIDATION_FRACTION:.0%} of the training clips" if valid else "last epoch"
        arrangements.append(Arrangement(label, train, valid, test_split, train_splits, selection, on_test))
    return arrangements


def _gather(
    parts: list[Part], splits: dict[Any, SplitEmbeddings], targets: dict[Any, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    features = [splits[s].pooled if index is None else splits[s].pooled[index] for s, index in parts]
    labels = [targets[s] if index is None else targets[s][index] for s, index in parts]
    return np.concatenate(features), np.concatenate(labels)


def _class_names(
    config: TaskConfig, splits: dict[Any, SplitEmbeddings], targets: dict[Any, np.ndarray], output_dim: int
) -> list[str] | None:
    if config.criterion not in ("CrossEntropyLoss", "BCEWithLogitsLoss"):
        return None
    if config.class_names:
        return list(config.class_names)
    metas = [record["meta"] for data in splits.values() for record in data.samples]
    return infer_class_names(metas, np.concatenate(list(targets.values())), output_dim)


def run_clip_probe(
    config: TaskConfig, splits: dict[Any, SplitEmbeddings], context: ProbeContext
) -> ProbeResult:
    """Train and score the linear head (and kNN where meaningful) on every train/test arrangement."""
    protocol = context.protocol
    if protocol not in ("published", "strict", "xares-0.1.3"):
        raise ValueError(f"protocol must be published, strict or xares-0.1.3, got {protocol!r}")
    metric = get_metric(config.metric)
    targets = {split: make_targets(config, split, data) for split, data in splits.items()}
    output_dim = _output_dim(config, list(targets.values()))
    settings = LinearProbeSettings(**task_schedule(config, context.seed), criterion=config.criterion)
    use_knn = config.do_knn and config.criterion == "CrossEntropyLoss"
    # a classifier scored by another metric (EER) also reports its accuracy
    extra_accuracy = config.criterion == "CrossEntropyLoss" and config.metric != "accuracy"
    # a regression head reports every regression metric, its own one as the score
    extra_regression = (
        tuple(m for m in REGRESSION_METRICS if m != config.metric)
        if config.criterion in REGRESSION_CRITERIA
        else ()
    )
    class_names = _class_names(config, splits, targets, output_dim)

    folds = []
    for arrangement in clip_arrangements(config, protocol, splits, targets):
        train_x, train_y = _gather(arrangement.train, splits, targets)
        test = (splits[arrangement.test].pooled, targets[arrangement.test])
        valid = _gather(arrangement.valid, splits, targets) if arrangement.valid else None
        fold: dict[str, Any] = {
            "name": arrangement.label,
            "num_train": len(train_x),
            "num_valid": len(valid[0]) if valid else 0,
            "num_test": len(test[0]),
            "selection": arrangement.selection,
            "selection_on_test": arrangement.selection_on_test,
        }
        record = ClipRecord(
            keys=clip_keys(splits[arrangement.test].samples), scores={}, class_names=class_names
        )
        # The kNN's matrix products run in a thread beside the head's training, which keeps one core
        # busy with small steps; 50,000 x 768 clips on 2 cores: 8.4 s for both instead of 10.6 s in turn.
        knn_votes = None
        if use_knn:
            reference = _gather([(s, None) for s in arrangement.knn_train], splits, targets)
            threads = max(1, torch.get_num_threads() - 1) if config.do_mlp else torch.get_num_threads()
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xares-knn")
            knn_votes = pool.submit(_knn_votes, config, reference, test[0], output_dim, protocol, threads)
            pool.shutdown(wait=False)  # no wait here: the thread ends with its one job, awaited below
        if config.do_mlp:
            outcome = train_linear_probe(
                train=(train_x, train_y),
                valid=valid,
                test=test,
                output_dim=output_dim,
                metric=metric,
                settings=settings,
                on_epoch=context.on_epoch,
            )
            fold.update(outcome.fold_fields())
            try:
                record.scores["mlp_score"] = head_scores(config.metric, outcome.test_outputs, test[1])
            except ValueError as exc:  # a metric without a per-clip form: no interval, said in the log
                logger.warning("%s: %s", config.name, exc)
            if extra_accuracy:
                record.scores["accuracy"] = classification_scores(outcome.test_outputs, test[1])
                fold["accuracy"] = float(np.mean(np.argmax(outcome.test_outputs, axis=1) == test[1]))
            for name in extra_regression:
                fold[name] = get_metric(name).compute(outcome.test_outputs, test[1])
        if knn_votes is not None:
            votes = knn_votes.result()
            fold["knn_score"] = float(np.mean(np.argmax(votes, axis=1) == test[1]))
            record.scores["knn_score"] = classification_scores(votes, test[1])
        fold["per_clip"] = record
        folds.append(fold)
        logger.info(
            "%s %s: %s",
            config.name,
            arrangement.label,
            {k: v for k, v in fold.items() if k not in ("name", "per_clip")},
        )
    return ProbeResult.from_folds(folds, (("accuracy",) if extra_accuracy else ()) + extra_regression)


def _knn_votes(
    config: TaskConfig,
    reference: tuple[np.ndarray, np.ndarray],
    query_x: np.ndarray,
    output_dim: int,
    protocol: str,
    threads: int,
) -> np.ndarray:
    torch.set_num_threads(threads)  # this thread's own intra-op threads; the caller's stay as they are
    reference_x, reference_y = reference
    if reference_x.ndim == 3:  # layer="weighted": kNN learns no mix and uses the last layer
        reference_x, query_x = reference_x[:, -1], query_x[:, -1]
    return knn_class_scores(
        reference_x,
        reference_y,
        query_x,
        num_classes=output_dim,
        k=config.knn_k,
        temperature=config.knn_temperature,
        reference_normalisation="dimension" if protocol == "xares-0.1.3" else "clip",
    )
