"""TaskConfig: everything that defines one task, validated strictly.

Field names follow the public X-ARES task files so those files run unchanged. A misspelt or unknown
field is an error that names it and suggests the closest real one: a silently ignored `epoch=50`
would change the published protocol without anyone noticing. The few upstream fields X-ARES has
no use for are accepted and tagged `unused` with the reason; loading a task file that sets one
logs which and why (xares.task.load_task_config).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from xares.errors import TaskConfigError

TaskType = Literal["clip", "frame", "contrastive", "asr"]
MetricName = Literal[
    "accuracy",
    "mAP",
    "segmentf1_macro",
    "segmentf1_micro",
    "recallatk_r1",
    "WER_inv",
    "EER",
    "MAE",
    "MSE",
    "pearson",
]
CriterionName = Literal[
    "CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "AudioTextContrastiveLoss", "CTCLoss"
]
LOWER_IS_BETTER = frozenset({"EER", "MAE", "MSE"})


# Which fields make up the caches' keys, declared here once. DATA: the audio in each split and how it
# is cut (TaskConfig.data_fingerprint, part of the embedding store's and the score cache's keys).
# PROBE: enters the score cache's key as it is (xares.score_cache); PROBE_RECORDED: also recorded in
# results.json's "probe" block; PROBE_OWN_FORM: enters the score key in a form of its own (a callable
# by its source, fold names as strings, metric_args without the hop). unused(reason): an upstream
# field accepted so that public task files run unchanged, which nothing in X-ARES reads.
DATA = {"data_key": True}
PROBE = {"score_key": "probe"}
PROBE_RECORDED = {"score_key": "probe", "recorded": True}
PROBE_AND_DATA = {**DATA, **PROBE}
PROBE_OWN_FORM = {"score_key": "own"}


def unused(reason: str) -> dict[str, str]:
    return {"unused": reason}


@dataclass
class _TaskFields:
    # identity
    name: str = field(default="", metadata=DATA)
    formal_name: str | None = None
    domain: str = ""
    private: bool = False
    disabled: bool = False
    # where the audio lives and comes from
    env_root: str | Path = "env"
    zenodo_id: str | None = None
    generator: Callable[[Path], None] | None = None
    force_download: bool = False
    force_encode: bool = False
    force_mlp: bool = False
    force_knn: bool = False
    use_mini_dataset: bool = field(default=False, metadata=DATA)
    pretrained_dependencies: list[str] | None = None
    # splits
    train_split: str | None = field(default="train", metadata=PROBE_AND_DATA)
    valid_split: str | None = field(default="valid", metadata=PROBE_AND_DATA)
    test_split: str | None = field(default="test", metadata=PROBE_AND_DATA)
    k_fold_splits: list[Any] | None = field(default=None, metadata={**DATA, **PROBE_OWN_FORM})
    audio_tar_name_of_split: dict[Any, str] = field(default_factory=dict, metadata=DATA)
    mini_audio_tar_name_of_split: dict[Any, str] = field(default_factory=dict, metadata=DATA)
    encoded_tar_name_of_split: dict[Any, str] = field(
        default_factory=dict,
        metadata=unused("embeddings are kept in X-ARES's own store, not in tar shards"),
    )
    # encoding
    encoder: Any = None
    crop_length: float | None = field(default=None, metadata=DATA)
    batch_size_encode: int = 16
    num_encoder_workers: int = field(
        default=4, metadata=unused("the encode stage decodes in its own worker processes (--decode-workers)")
    )
    save_encoded_per_batches: int = field(
        default=2000, metadata=unused("the store writes one array file per split, not per batch count")
    )
    # labels and the head
    label_processor: Callable[[dict], Any] | None = field(default=None, metadata=PROBE_OWN_FORM)
    merge_processor: Callable[..., Any] | None = field(
        default=None, metadata=unused("no task merges samples; nothing calls it")
    )
    task_type: TaskType = field(default="clip", metadata=PROBE_RECORDED)
    output_dim: int | None = field(default=None, metadata=PROBE)
    metric: MetricName = field(default="accuracy", metadata=PROBE)
    # names of the output_dim classes, for per-class scores and confusion matrices; None: read from
    # the clips' JSON where a field names each class, else "class <index>"
    class_names: list[str] | None = field(default=None, metadata=PROBE_OWN_FORM)
    metric_args: dict[str, Any] = field(default_factory=dict, metadata=PROBE_OWN_FORM)
    criterion: CriterionName = field(default="CrossEntropyLoss", metadata=PROBE_RECORDED)
    epochs: int = field(default=10, metadata=PROBE_RECORDED)
    learning_rate: float = field(default=1e-3, metadata=PROBE_RECORDED)
    batch_size_train: int = field(default=32, metadata=PROBE_RECORDED)
    batch_size_valid: int | None = field(
        default=None,
        metadata=unused("the heads choose their own evaluation batches"),
    )
    num_training_workers: int = field(
        default=0, metadata=unused("embeddings are read from memory; there are no loader workers")
    )
    num_validation_workers: int = field(
        default=0, metadata=unused("embeddings are read from memory; there are no loader workers")
    )
    sort_by_length: bool = field(
        default=False, metadata=unused("heads batch the stored frames as they are; no length sorting")
    )
    do_mlp: bool = field(default=True, metadata=PROBE)
    do_knn: bool = field(default=True, metadata=PROBE)
    knn_k: int = field(default=10, metadata=PROBE_RECORDED)
    knn_temperature: float = field(default=0.07, metadata=PROBE_RECORDED)
    # which layer of a multi-layer encoder the probes use: None (the last), K (negative from the end)
    # or "weighted" (a learned softmax-weighted sum); see xares.probes.layers
    layer: int | str | None = field(default=None, metadata=PROBE_OWN_FORM)
    eval_weight: int | None = None
    seed: int = field(default=42, metadata=PROBE)
    description: str = ""


_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(_TaskFields))


def fields_tagged(key: str, value: Any = True) -> tuple[str, ...]:
    """Names of the fields whose metadata has `key` (equal to `value`), in declaration order."""
    return tuple(f.name for f in dataclasses.fields(_TaskFields) if f.metadata.get(key) == value)


def unused_fields_set(config: _TaskFields) -> dict[str, str]:
    """The upstream-only fields a task sets to other than their default, each with why it is unused."""
    defaults = _TaskFields()
    return {
        f.name: f.metadata["unused"]
        for f in dataclasses.fields(_TaskFields)
        if "unused" in f.metadata and getattr(config, f.name) != getattr(defaults, f.name)
    }


def _unknown_field_error(name: str) -> TaskConfigError:
    close = difflib.get_close_matches(name, sorted(_FIELD_NAMES), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return TaskConfigError(
        f"TaskConfig has no field {name!r}.{hint} Valid fields: {', '.join(sorted(_FIELD_NAMES))}."
    )


class TaskConfig(_TaskFields):
    """A task's definition. Build it with keywords; unknown keywords and attributes are refused."""

    def __init__(self, **kwargs: Any) -> None:
        for key in kwargs:
            if key not in _FIELD_NAMES:
                raise _unknown_field_error(key)
        super().__init__(**kwargs)
        self.validate()

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _FIELD_NAMES:
            raise _unknown_field_error(name)
        object.__setattr__(self, name, value)

    # ----- derived views ------------------------------------------------------------------
    @property
    def display_name(self) -> str:
        return self.formal_name or self.name

    @property
    def task_dir(self) -> Path:
        return Path(self.env_root) / self.name

    @property
    def is_kfold(self) -> bool:
        return bool(self.k_fold_splits)

    def data_splits(self) -> list[Any]:
        """Every split (or fold) whose audio the task needs, each once, in a stable order."""
        if self.is_kfold:
            return list(self.k_fold_splits)
        splits = (self.train_split, self.valid_split, self.test_split)
        return list(dict.fromkeys(split for split in splits if split is not None))

    def shard_pattern(self, split: Any) -> str:
        patterns = (
            self.mini_audio_tar_name_of_split if self.use_mini_dataset else self.audio_tar_name_of_split
        )
        if split in patterns:
            return patterns[split]
        if self.is_kfold:
            return f"wds-audio-fold-{split}-*.tar"
        return f"{split}*.tar"

    def validate(self) -> None:
        """Check values, not only names: a wrong type here would surface hours later."""
        where = f"task {self.name!r}" if self.name else "TaskConfig"
        if not self.name or not isinstance(self.name, str):
            raise TaskConfigError(f"{where}: 'name' must be a non-empty string (it names env_root/<name>/).")
        if "/" in self.name or self.name.startswith("."):
            raise TaskConfigError(f"{where}: 'name' must be a plain directory name, got {self.name!r}.")
        for attr, literal in (("task_type", TaskType), ("metric", MetricName), ("criterion", CriterionName)):
            allowed = get_args(literal)
            value = getattr(self, attr)
            if value not in allowed:
                close = difflib.get_close_matches(str(value), allowed, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise TaskConfigError(f"{where}: {attr}={value!r} is not one of {list(allowed)}.{hint}")
        for attr in ("epochs", "batch_size_train", "batch_size_encode", "knn_k"):
            value = getattr(self, attr)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise TaskConfigError(f"{where}: {attr} must be a positive integer, got {value!r}.")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise TaskConfigError(
                f"{where}: learning_rate must be a positive number, got {self.learning_rate!r}."
            )
        if self.crop_length is not None and not (
            isinstance(self.crop_length, (int, float)) and self.crop_length > 0
        ):
            raise TaskConfigError(f"{where}: crop_length must be a positive number of seconds or None.")
        if self.k_fold_splits is not None and len(self.k_fold_splits) < 2:
            raise TaskConfigError(
                f"{where}: k_fold_splits needs at least two folds, got {self.k_fold_splits!r}."
            )
        if not self.is_kfold and (self.train_split is None or self.test_split is None):
            raise TaskConfigError(f"{where}: set train_split and test_split, or k_fold_splits.")
        if self.task_type == "clip" and self.output_dim is not None and self.output_dim < 1:
            raise TaskConfigError(f"{where}: output_dim must be positive, got {self.output_dim!r}.")
        if self.eval_weight is not None and (not isinstance(self.eval_weight, int) or self.eval_weight < 0):
            raise TaskConfigError(f"{where}: eval_weight must be a non-negative integer or None.")
        if (
            self.layer is not None
            and self.layer != "weighted"
            and (not isinstance(self.layer, int) or isinstance(self.layer, bool))
        ):
            raise TaskConfigError(
                f"{where}: layer must be None (the last layer), an integer K (negative counts from the "
                f"end) or 'weighted'; got {self.layer!r}."
            )
        if self.class_names is not None and (
            not isinstance(self.class_names, (list, tuple))
            or not all(isinstance(n, str) for n in self.class_names)
            or (self.output_dim is not None and len(self.class_names) != self.output_dim)
        ):
            raise TaskConfigError(
                f"{where}: class_names must be a list of output_dim={self.output_dim} strings, one per class "
                f"index; got {self.class_names!r:.200}."
            )
        if self.label_processor is not None and not callable(self.label_processor):
            raise TaskConfigError(
                f"{where}: label_processor must be callable (it receives the sample's JSON)."
            )

    def data_fingerprint(self) -> str:
        """Hash of the fields that decide which audio goes into which split, and how it is cut."""
        identity = {
            "name": self.name,
            "splits": [str(s) for s in self.data_splits()],
            "patterns": {str(s): self.shard_pattern(s) for s in self.data_splits()},
            "crop_length": self.crop_length,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
