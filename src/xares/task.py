"""XaresTask: one task through the stages (acquire -> encode -> probe), with its caches.

`XaresTask(config).run()` is the public entry point of the upstream API; it returns a TaskResult that
unpacks as `(mlp_score, knn_score)`.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from xares.acquire import acquire
from xares.data.shards import find_shards
from xares.encode import EncodeOptions, encode_split
from xares.encoder import EncoderInfo, describe_encoder, import_file
from xares.errors import EncoderError, TaskConfigError
from xares.metrics import get_metric
from xares.probes import get_probe
from xares.probes.linear import single_thread
from xares.store import is_complete, load_split, read_manifest, write_json_atomic
from xares.taskconfig import TaskConfig

__all__ = ["TaskConfig", "XaresTask", "TaskResult", "RunOptions", "load_task_config"]

logger = logging.getLogger(__name__)

OVERWRITE_POLICIES = ("missing", "probe", "all")


@dataclass(frozen=True)
class RunOptions:
    """Options of one run that are not part of any task's definition."""

    overwrite: str = "missing"  # missing: reuse complete artifacts; probe: retrain heads; all: also re-encode
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    zenodo_base_url: str | None = None
    progress: bool = False
    mini: bool = False  # use each task's mini shard selection (use_mini_dataset) where it has one


@dataclass
class TaskResult:
    name: str
    formal_name: str
    domain: str = ""
    private: bool = False
    metric: str = "accuracy"
    higher_is_better: bool = True
    eval_weight: int = 0
    mlp_score: float | None = None
    knn_score: float | None = None
    num_test_clips: int = 0
    status: str = "ok"  # ok | failed | disabled
    error: str | None = None
    seed: int = 42
    timings: dict[str, float] = field(default_factory=dict)
    folds: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # secondary metrics, e.g. recall@5
    cached: bool = False

    def __iter__(self):
        """Unpack as (mlp_score, knn_score), the shape of the public API's return value."""
        yield self.mlp_score
        yield self.knn_score

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_task_config(path: str | Path, encoder: Any, *, env_root: str | Path | None = None) -> TaskConfig:
    """Run a task file's one `*_config(encoder)` function. The file is executed as code."""
    module = import_file(path, purpose="task")
    functions = [v for k, v in vars(module).items() if k.endswith("_config") and callable(v)]
    if len(functions) != 1:
        names = [k for k in vars(module) if k.endswith("_config")]
        raise TaskConfigError(
            f"{path}: a task file defines exactly one function whose name ends in '_config'; found {names}."
        )
    try:
        config = functions[0](encoder)
    except TaskConfigError as exc:
        raise TaskConfigError(f"{path}: {exc}") from exc
    if not isinstance(config, TaskConfig):
        raise TaskConfigError(
            f"{path}: {functions[0].__name__} returned {type(config).__name__}, not a TaskConfig."
        )
    if env_root is not None:
        config.env_root = env_root
    return config


def _callable_identity(function: Any) -> str:
    if function is None:
        return "default"
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return getattr(function, "__qualname__", repr(function))


class XaresTask:
    def __init__(self, config: TaskConfig, *, options: RunOptions | None = None) -> None:
        if options is not None and options.overwrite not in OVERWRITE_POLICIES:
            raise ValueError(f"overwrite must be one of {OVERWRITE_POLICIES}, got {options.overwrite!r}")
        self.config = config
        self.options = options or RunOptions()
        if self.options.mini:
            config.use_mini_dataset = True
        self.encoder = config.encoder
        self._info: EncoderInfo | None = None
        self.result = TaskResult(
            name=config.name,
            formal_name=config.display_name,
            domain=config.domain,
            private=config.private,
            metric=config.metric,
            higher_is_better=get_metric(config.metric).higher_is_better,
            eval_weight=config.eval_weight or 0,
            seed=config.seed,
        )

    # ----- keys and places ------------------------------------------------------------------
    @property
    def encoder_info(self) -> EncoderInfo:
        if self.encoder is None:
            raise EncoderError(
                f"task {self.config.name!r}: this stage needs an encoder (config.encoder is None)."
            )
        if self._info is None:
            self._info = describe_encoder(self.encoder)
        return self._info

    @property
    def store_root(self) -> Path:
        return self.config.task_dir / "embeddings" / self.encoder_info.store_name

    def split_dir(self, split: Any) -> Path:
        return self.store_root / str(split).replace("/", "_")

    def store_key(self, split: Any) -> dict[str, Any]:
        shards = find_shards(self.config.task_dir, self.config.shard_pattern(split))
        return {
            "encoder": self.encoder_info.fingerprint,
            "task_data": self.config.data_fingerprint(),
            "split": str(split),
            "shards": {p.name: p.stat().st_size for p in shards},
        }

    def score_path(self) -> Path:
        config = self.config
        identity = {
            "encoder": self.encoder_info.fingerprint,
            "task_data": config.data_fingerprint(),
            "stores": {str(s): read_manifest(self.split_dir(s)) for s in config.data_splits()},
            "probe": {
                k: getattr(config, k)
                for k in (
                    "task_type",
                    "output_dim",
                    "metric",
                    "criterion",
                    "epochs",
                    "learning_rate",
                    "batch_size_train",
                    "do_mlp",
                    "do_knn",
                    "knn_k",
                    "knn_temperature",
                    "seed",
                    "train_split",
                    "valid_split",
                    "test_split",
                )
            },
            "metric_args": {k: v for k, v in config.metric_args.items() if k != "hop_size_in_ms"},
            "hop_size_in_ms": self.encoder_info.hop_size_in_ms,
            "folds": [str(f) for f in config.k_fold_splits or []],
            "label_processor": _callable_identity(config.label_processor),
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
        return config.task_dir / "scores" / self.encoder_info.store_name / f"{digest[:16]}.json"

    # ----- stages ---------------------------------------------------------------------------
    def acquire(self) -> None:
        started = time.perf_counter()
        acquire(self.config, base_url=self.options.zenodo_base_url, progress=self.options.progress)
        self.result.timings["acquire"] = round(time.perf_counter() - started, 3)

    def encode(self) -> None:
        started = time.perf_counter()
        force = self.options.overwrite == "all" or self.config.force_encode
        self.store_root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.store_root) + ".lock"):
            for leftover in self.store_root.glob(".*.tmp-*"):  # from a run killed mid-write
                shutil.rmtree(leftover, ignore_errors=True)
            for split in self.config.data_splits():
                key = self.store_key(split)
                if is_complete(self.split_dir(split), key) and not force:
                    continue
                stats = encode_split(
                    self.encoder,
                    self.encoder_info,
                    self.config,
                    split,
                    self.split_dir(split),
                    key,
                    self.options.encode,
                )
                logger.info(
                    "%s/%s: encoded %d clips (%.1f s of audio) in %.1f s",
                    self.config.name,
                    split,
                    stats.clips,
                    stats.audio_seconds,
                    stats.wall_seconds,
                )
        self.result.timings["encode"] = round(time.perf_counter() - started, 3)

    def probe(self) -> TaskResult:
        started = time.perf_counter()
        config = self.config
        path = self.score_path()
        force = self.options.overwrite in ("probe", "all") or config.force_mlp or config.force_knn
        if path.is_file() and not force:
            cached = json.loads(path.read_text(encoding="utf-8"))
            self._apply_scores(cached)
            self.result.cached = True
        else:
            splits = {s: load_split(self.split_dir(s), self.store_key(s)) for s in config.data_splits()}
            hop = float(config.metric_args.get("hop_size_in_ms") or self.encoder_info.hop_size_in_ms)
            # Heads are small matrices: extra threads only add wake-ups, and on a busy machine spinning
            # threads slow each step ~30x. The clip probe keeps them for its kNN matrix products.
            threads = contextlib.nullcontext() if config.task_type == "clip" else single_thread()
            with threads:
                outcome = get_probe(config.task_type)(config, splits, seed=config.seed, hop_size_in_ms=hop)
            scores = {
                "mlp_score": outcome.mlp_score,
                "knn_score": outcome.knn_score,
                "num_test_clips": outcome.num_test_clips,
                "folds": outcome.folds,
                "metrics": outcome.metrics,
            }
            write_json_atomic(path, scores)
            self._apply_scores(scores)
        self.result.timings["probe"] = round(time.perf_counter() - started, 3)
        return self.result

    def _apply_scores(self, scores: dict[str, Any]) -> None:
        self.result.mlp_score = scores["mlp_score"]
        self.result.knn_score = scores["knn_score"]
        self.result.num_test_clips = scores["num_test_clips"]
        self.result.folds = scores["folds"]
        self.result.metrics = scores.get("metrics", {})
        if self.config.eval_weight is None:
            self.result.eval_weight = scores["num_test_clips"]

    def run(self, *, from_stage: int = 0, to_stage: int = 2) -> TaskResult:
        """Run stages from_stage..to_stage (0 acquire, 1 encode, 2 probe) and return the scores."""
        if self.config.disabled:
            self.result.status = "disabled"
            return self.result
        if from_stage <= 0 <= to_stage:
            self.acquire()
        if from_stage <= 1 <= to_stage:
            self.encode()
        if from_stage <= 2 <= to_stage:
            self.probe()
        return self.result
