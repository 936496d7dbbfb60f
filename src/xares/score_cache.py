"""The score cache: a task's scores, kept so that a rerun with nothing changed trains no head.

One JSON file per key under env_root/<task>/scores/<encoder store>/<digest>.json. The key holds what
a score depends on: the encoder's fingerprint, the task's data (TaskConfig.data_fingerprint), the
manifests of the embedding stores the heads read, the probe settings (the TaskConfig fields tagged
`score_key` in xares.taskconfig), the hop, the protocol and the seeds. An entry is the dictionary
stats.combine_seeds builds; ENTRY_FIELDS says how it fills a TaskResult.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from pathlib import Path
from typing import Any

from xares.atomic import write_json_atomic
from xares.taskconfig import TaskConfig, fields_tagged

logger = logging.getLogger(__name__)

# 2: entries with per-clip test data of clip tasks; 3: of frame, contrastive and ASR tasks too
SCORES_FORMAT = 3
PROBE_KEY_FIELDS = fields_tagged("score_key", "probe")
RECORDED_PROBE_FIELDS = fields_tagged("recorded")  # results.json's "probe" block
# entry field -> the value an older entry that lacks it reads as (REQUIRED: no older entry lacks it)
REQUIRED = object()
ENTRY_FIELDS: dict[str, Any] = {
    "mlp_score": REQUIRED,
    "knn_score": REQUIRED,
    "num_test_clips": REQUIRED,
    "folds": REQUIRED,
    "metrics": {},
    "skipped": [],
    "seed_scores": {},
    "selection": "",
    "selection_on_test": None,
    "per_clip": None,
    "num_layers": 1,
    "layer_weights": None,
}


def callable_identity(function: Any) -> str:
    """A label_processor by its source, so that editing it invalidates the scores made with it."""
    if function is None:
        return "default"
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return getattr(function, "__qualname__", repr(function))


def score_key(
    config: TaskConfig,
    *,
    encoder_fingerprint: str,
    hop_size_in_ms: float,
    stores: dict[str, Any],
    skip_bad_samples: bool,
    protocol: str,
    seeds: list[int],
) -> dict[str, Any]:
    """Everything a task's scores depend on; `stores` maps each split to its store's manifest."""
    return {
        "encoder": encoder_fingerprint,
        "task_data": config.data_fingerprint(),
        "stores": stores,
        "probe": {name: getattr(config, name) for name in PROBE_KEY_FIELDS},
        "metric_args": {k: v for k, v in config.metric_args.items() if k != "hop_size_in_ms"},
        "hop_size_in_ms": hop_size_in_ms,
        "folds": [str(f) for f in config.k_fold_splits or []],
        "label_processor": callable_identity(config.label_processor),
        "skip_bad_samples": skip_bad_samples,
        "protocol": protocol,
        "seeds": seeds,
        # the store holds every layer; only the heads (hence the scores) depend on the choice
        **({"layer": config.layer} if config.layer is not None else {}),
        **({"class_names": list(config.class_names)} if config.class_names else {}),
        "scores_format": SCORES_FORMAT,
    }


def entry_path(config: TaskConfig, store_name: str, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return config.task_dir / "scores" / store_name / f"{digest[:16]}.json"


def read_entry(path: Path) -> dict[str, Any] | None:
    """The entry at `path`, or None where there is none or it cannot be used (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("%s: unreadable score cache entry (%s); the heads are trained again", path, exc)
        return None
    missing = [k for k, v in ENTRY_FIELDS.items() if v is REQUIRED and k not in entry]
    if not isinstance(entry, dict) or missing:  # a list holds no keys: all are missing
        logger.warning("%s: score cache entry lacks %s; the heads are trained again", path, missing)
        return None
    return entry


def write_entry(path: Path, entry: dict[str, Any]) -> None:
    write_json_atomic(path, entry)


def entry_fields(entry: dict[str, Any]) -> dict[str, Any]:
    """The TaskResult fields an entry sets, older entries' missing ones at their defaults."""
    return {k: entry[k] if v is REQUIRED else entry.get(k, v) for k, v in ENTRY_FIELDS.items()}
