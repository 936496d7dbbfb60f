"""Probes: embedding store -> scores. One module per task type; this module picks the right one.

Every probe has the signature `probe(config, splits, context) -> ProbeResult`, where `splits` maps
each split (or fold) of the task to its SplitEmbeddings and `context` (a ProbeContext) holds all a
probe may know beyond its task: the seed, the encoder's hop and sampling rate, the protocol, the
device and the progress hook. Probes never touch audio and never read `config.encoder`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xares.errors import LabelError, TaskConfigError

# The task-type registry: task_type -> "module:function". Modules are imported on first use, so a
# task type's optional dependencies (transformers for the public ASR protocol, say) are only needed by
# its tasks. The upstream name "contrastive" means audio-text retrieval trained with a contrastive
# loss, hence its module's name.
TASK_TYPES: dict[str, str] = {
    "clip": "xares.probes.clip:run_clip_probe",
    "frame": "xares.probes.frame:run_frame_probe",
    "contrastive": "xares.probes.retrieval:run_retrieval_probe",
    "asr": "xares.probes.asr:run_asr_probe",
}


@dataclass(frozen=True)
class ProbeContext:
    """What a probe may know besides its task and embeddings, passed the same way to every probe."""

    seed: int
    hop_size_in_ms: float  # the encoder's, or the task's metric_args override
    sampling_rate: float  # the encoder's: frame tasks turn clip lengths into label frames with it
    protocol: str = "published"  # see xares.protocols
    device: str | None = None  # where heads train; None: each head's default (ASR: CUDA when present)
    on_epoch: Callable[[], None] | None = None  # called after every trained epoch (progress display)


@dataclass
class ProbeResult:
    """Scores of one task: the headline MLP and kNN scores, secondary metrics, and per-fold details."""

    mlp_score: float | None
    knn_score: float | None
    num_test_clips: int
    folds: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_folds(cls, folds: list[dict[str, Any]], metric_names: tuple[str, ...] = ()) -> ProbeResult:
        """Average fold scores with a plain mean, as published; `metric_names` are secondary metrics."""

        def mean_of(name: str) -> float | None:
            values = [f[name] for f in folds if f.get(name) is not None]
            return float(np.mean(values)) if values else None

        return cls(
            mlp_score=mean_of("mlp_score"),
            knn_score=mean_of("knn_score"),
            num_test_clips=int(sum(f["num_test"] for f in folds)),
            folds=folds,
            metrics={name: value for name in metric_names if (value := mean_of(name)) is not None},
        )


def split_arrangements(config: Any) -> list[tuple[str, list[Any], Any, Any]]:
    """(label, train splits, validation split, test split) for each model the task trains.

    k-fold tasks hold out each fold in turn; as published, the held-out fold is both the validation
    and the test set. Single-split tasks train once.
    """
    if config.is_kfold:
        return [
            (f"fold {held_out}", [s for s in config.k_fold_splits if s != held_out], held_out, held_out)
            for held_out in config.k_fold_splits
        ]
    return [("test", [config.train_split], config.valid_split, config.test_split)]


def read_label(processor: Callable[[dict], Any], config: Any, split: Any, record: dict) -> Any:
    """The label_processor applied to one stored clip; a failure names the task, shard and sample."""
    try:
        return processor(record["meta"])
    except Exception as exc:
        raise LabelError(
            f"task {config.name!r}, split {split!r}, shard {record['shard']}, sample {record['key']!r}: "
            f"the label_processor could not read {record['meta']!r} ({type(exc).__name__}: {exc}). "
            "Fix the sample's JSON or the task's label_processor."
        ) from exc


ProbeFunction = Callable[..., ProbeResult]


def get_probe(task_type: str) -> ProbeFunction:
    if task_type not in TASK_TYPES:
        raise TaskConfigError(
            f"no probe for task_type {task_type!r}; this X-ARES has probes for {sorted(TASK_TYPES)}."
        )
    module_name, _, function = TASK_TYPES[task_type].partition(":")
    return getattr(importlib.import_module(module_name), function)
