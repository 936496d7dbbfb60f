"""XaresTask: one task through the stages (acquire -> encode -> probe), with its caches.

`XaresTask(config).run()` is the public entry point of the upstream API; it returns a TaskResult that
unpacks as `(mlp_score, knn_score)`.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from xares import score_cache
from xares.acquire import acquire
from xares.data.shards import find_shards
from xares.encode import EncodeOptions, encode_split
from xares.encoder import EncoderInfo, describe_encoder
from xares.errors import EncoderError, TaskConfigError
from xares.faults import failpoint
from xares.importing import import_file
from xares.metrics import get_metric
from xares.probes import ProbeContext, ProbeFunction, get_probe, split_arrangements
from xares.probes.asr import DECODERS, DEFAULT_DECODER, require_decoder
from xares.probes.layers import mean_layer_weights, select_layers
from xares.probes.training import single_thread
from xares.progress import progress, progress_mode
from xares.protocols import PROTOCOLS
from xares.stats import combine_seeds
from xares.store import SplitEmbeddings, is_complete, load_split, read_manifest
from xares.taskconfig import TaskConfig, unused_fields_set

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
    skip_bad_samples: bool = False  # skip and count unreadable samples instead of failing the task
    protocol: str = "published"  # published | strict | xares-0.1.3 (see xares.report.PROTOCOLS)
    num_seeds: int = 1  # heads trained per task, with seeds seed, seed + 1, ...; scores are their mean
    layer: int | str | None = None  # when set, every task's TaskConfig.layer (xares.probes.layers)
    # when set, the decoder of every ASR task ("qwen" | "ctc"); one other than the task file's is a
    # deviation, recorded in TaskResult.deviations and marked in every view
    asr_decoder: str | None = None
    # no progress display (the library's default); else bars where progress is True, plain lines elsewhere
    quiet: bool = True


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
    skipped: list[str] = field(default_factory=list)  # samples left out under --skip-bad-samples, and why
    cached: bool = False
    protocol: str = "published"
    seeds: list[int] = field(default_factory=list)  # the seeds of the heads, RunOptions.num_seeds of them
    seed_scores: dict[str, list[float | None]] = field(default_factory=dict)  # every score of every seed
    probe: dict[str, Any] = field(default_factory=dict)  # the probe's settings
    selection: str = ""  # what chose the head's epoch; selection_on_test: whether that saw test data
    selection_on_test: bool | None = None
    encode: dict[str, Any] = field(default_factory=dict)  # audio seconds, encode seconds, device, memory
    per_clip: dict[str, Any] | None = None  # per-clip test data for intervals and paired tests (xares.stats)
    layer: int | str | None = None  # the layer choice (None: the last); num_layers: L of the store
    num_layers: int = 1
    layer_weights: list[float] | None = None  # layer="weighted": the learned weights, mean over folds
    # settings of this run that differ from the task file's (not its published protocol), in words
    deviations: list[str] = field(default_factory=list)

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
    for name, reason in unused_fields_set(config).items():
        logger.info("%s sets %s, an upstream field X-ARES accepts but does not use: %s", path, name, reason)
    return config


class XaresTask:
    def __init__(
        self,
        config: TaskConfig,
        *,
        options: RunOptions | None = None,
        encoder_info: EncoderInfo | None = None,
    ) -> None:
        if options is not None and options.overwrite not in OVERWRITE_POLICIES:
            raise ValueError(f"overwrite must be one of {OVERWRITE_POLICIES}, got {options.overwrite!r}")
        if options is not None and (options.protocol not in PROTOCOLS or options.num_seeds < 1):
            raise ValueError(
                f"protocol must be one of {sorted(PROTOCOLS)} and seeds >= 1; got {options.protocol!r}, "
                f"{options.num_seeds!r}"
            )
        self.config = config
        self.options = options or RunOptions()
        if self.options.mini:
            config.use_mini_dataset = True
        if self.options.layer is not None:
            config.layer = self.options.layer
            config.validate()
        self.encoder = config.encoder
        self._info = encoder_info  # None: fingerprinted when first needed
        self._shards: dict[str, list[Path]] = {}  # per split, found once; acquire() starts afresh
        self.result = TaskResult(
            name=config.name,
            formal_name=config.display_name,
            domain=config.domain,
            private=config.private,
            metric=config.metric,
            higher_is_better=get_metric(config.metric).higher_is_better,
            eval_weight=config.eval_weight or 0,
            seed=config.seed,
            protocol=self.options.protocol,
            seeds=[config.seed + i for i in range(self.options.num_seeds)],
            probe={k: getattr(config, k) for k in score_cache.RECORDED_PROBE_FIELDS},
            layer=config.layer,
            deviations=self._apply_head_choices(),
        )

    def _apply_head_choices(self) -> list[str]:
        """Apply this run's head choices to the config; say, in words, where they leave the task file."""
        chosen, config = self.options.asr_decoder, self.config
        if chosen is None or config.task_type != "asr":
            return []
        if chosen not in DECODERS:
            raise ValueError(f"asr_decoder must be one of {DECODERS}, got {chosen!r}")
        own = config.metric_args.get("decoder", DEFAULT_DECODER)
        if own == chosen:
            return []
        config.metric_args = {**config.metric_args, "decoder": chosen}
        return [f"ASR decoder {chosen!r} in place of the task file's {own!r} (--asr-decoder)"]

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
        autocast = self.options.encode.autocast
        name = self.encoder_info.store_name + ("" if autocast == "off" else f"-{autocast}")
        return self.config.task_dir / "embeddings" / name

    def split_dir(self, split: Any) -> Path:
        return self.store_root / str(split).replace("/", "_")

    def shards(self, split: Any) -> list[Path]:
        """The split's shard files, looked up once: the store key and the encoder read the same list."""
        if str(split) not in self._shards:
            self._shards[str(split)] = find_shards(self.config.task_dir, self.config.shard_pattern(split))
        return self._shards[str(split)]

    def store_key(self, split: Any) -> dict[str, Any]:
        shards = self.shards(split)
        return {
            "encoder": self.encoder_info.fingerprint,
            "task_data": self.config.data_fingerprint(),
            "split": str(split),
            "shards": {p.name: p.stat().st_size for p in shards},
            **({"skip_bad_samples": True} if self.options.skip_bad_samples else {}),
            **({"autocast": self.options.encode.autocast} if self.options.encode.autocast != "off" else {}),
        }

    def score_path(self) -> Path:
        """Where this task's scores are cached (xares.score_cache) under this run's options."""
        key = score_cache.score_key(
            self.config,
            encoder_fingerprint=self.encoder_info.fingerprint,
            hop_size_in_ms=self.encoder_info.hop_size_in_ms,
            stores={str(s): read_manifest(self.split_dir(s)) for s in self.config.data_splits()},
            skip_bad_samples=self.options.skip_bad_samples,
            protocol=self.options.protocol,
            seeds=self.result.seeds,
        )
        return score_cache.entry_path(self.config, self.encoder_info.store_name, key)

    # ----- stages ---------------------------------------------------------------------------
    def acquire(self) -> None:
        started = time.perf_counter()
        acquire(self.config, base_url=self.options.zenodo_base_url, progress=self.options.progress)
        self._shards.clear()
        self.result.timings["acquire"] = round(time.perf_counter() - started, 3)

    def encode(self) -> None:
        started = time.perf_counter()
        force = self.options.overwrite == "all" or self.config.force_encode
        encoding = replace(self.options.encode, skip_bad_samples=self.options.skip_bad_samples)
        self.store_root.mkdir(parents=True, exist_ok=True)
        from filelock import FileLock  # imported here: stage 2 and --help never need it

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
                    self.shards(split),
                    self.split_dir(split),
                    key,
                    encoding,
                )
                failpoint("encode.split_done")
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
        cached = None if force else score_cache.read_entry(path)
        if cached is not None:
            self._apply_scores(cached)
            self.result.cached = True
        else:
            splits = {s: load_split(self.split_dir(s), self.store_key(s)) for s in config.data_splits()}
            skipped = [reason for s in splits.values() for reason in s.manifest.get("skipped", [])]
            if self.options.skip_bad_samples:
                splits = {s: self._drop_unreadable_labels(s, data, skipped) for s, data in splits.items()}
            num_layers = next(iter(splits.values())).num_layers
            splits = select_layers(splits, config.layer, task=config.name)
            # Heads are small matrices: extra threads only add wake-ups, and on a busy machine spinning
            # threads slow each step ~30x. The clip probe keeps them for its kNN matrix products.
            threads = contextlib.nullcontext() if config.task_type == "clip" else single_thread()
            probe = get_probe(config.task_type)
            with threads:
                outcomes = [self._probe_with_seed(probe, splits, seed) for seed in self.result.seeds]
            scores = {**combine_seeds(outcomes, self.result.seeds, config), "skipped": skipped}
            scores.update(
                layer=config.layer, num_layers=num_layers, layer_weights=mean_layer_weights(scores["folds"])
            )
            if self.options.protocol == "strict" and scores["selection_on_test"]:
                logger.warning(
                    "%s: the %s probe has no strict protocol; its model selection still sees the test data "
                    "(%s)",
                    config.name,
                    config.task_type,
                    scores["selection"],
                )
            failpoint("probe.scored")
            score_cache.write_entry(path, scores)
            self._apply_scores(scores)
        self.result.timings["probe"] = round(time.perf_counter() - started, 3)
        return self.result

    def _probe_with_seed(self, probe: ProbeFunction, splits: dict[Any, SplitEmbeddings], seed: int):
        config, info = self.config, self.encoder_info
        epochs = len(split_arrangements(config)) * config.epochs if config.do_mlp else None
        with progress(f"probe {config.name} (seed {seed})", epochs, "epochs") as bar:
            context = ProbeContext(
                seed=seed,
                hop_size_in_ms=float(config.metric_args.get("hop_size_in_ms") or info.hop_size_in_ms),
                sampling_rate=float(info.sampling_rate),
                protocol=self.options.protocol,
                on_epoch=bar.advance,
            )
            return probe(config, splits, context)

    def _drop_unreadable_labels(
        self, split: Any, data: SplitEmbeddings, skipped: list[str]
    ) -> SplitEmbeddings:
        """--skip-bad-samples at the probe stage: clips whose JSON the label_processor rejects."""
        processor = self.config.label_processor
        if processor is None:
            return data
        keep = []
        for index, record in enumerate(data.samples):
            try:
                processor(record["meta"])
            except Exception as exc:
                reason = (
                    f"task {self.config.name!r}, split {split!r}, shard {record['shard']}, sample "
                    f"{record['key']!r}: the label_processor rejected its JSON ({type(exc).__name__}: {exc})"
                )
                logger.warning("skipping: %s", reason)
                skipped.append(reason)
            else:
                keep.append(index)
        return data if len(keep) == len(data) else data.subset(keep)

    def _apply_scores(self, scores: dict[str, Any]) -> None:
        for name, value in score_cache.entry_fields(scores).items():
            setattr(self.result, name, value)
        # a head that could not follow its task file (e.g. a tokenizer missing offline) says so per fold
        found = sorted({f["deviation"] for f in self.result.folds if f.get("deviation")})
        self.result.deviations += [d for d in found if d not in self.result.deviations]
        if self.config.eval_weight is None:
            self.result.eval_weight = scores["num_test_clips"]

    def run(self, *, from_stage: int = 0, to_stage: int = 2) -> TaskResult:
        """Run stages from_stage..to_stage (0 acquire, 1 encode, 2 probe) and return the scores."""
        if self.config.disabled:
            self.result.status = "disabled"
            return self.result
        if to_stage >= 2:
            require_decoder(self.config)  # before hours of encoding, not after
        mode = "off" if self.options.quiet else "bar" if self.options.progress else "lines"
        with progress_mode(mode):
            if from_stage <= 0 <= to_stage:
                self.acquire()
            if from_stage <= 1 <= to_stage:
                self.encode()
            if from_stage <= 2 <= to_stage:
                self.probe()
                self.result.encode = self.encode_statistics()
        return self.result

    def encode_statistics(self) -> dict[str, Any]:
        """Audio seconds, encode seconds and device of this task's stores (their manifests), and the peak
        memory of this process so far."""
        manifests = [read_manifest(self.split_dir(s)) or {} for s in self.config.data_splits()]
        stats: dict[str, Any] = {
            "audio_seconds": round(sum(m.get("audio_seconds", 0.0) for m in manifests), 3),
            "seconds": round(sum(m.get("seconds", 0.0) for m in manifests), 3),
            "device": ", ".join(sorted({_device_of(m) for m in manifests if m.get("device")})),
            "peak_memory_mb": None,
            "peak_gpu_memory_mb": None,
        }
        with contextlib.suppress(ImportError):  # resource is POSIX-only
            import resource
            import sys

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
            stats["peak_memory_mb"] = round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            stats["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        return stats


def _device_of(manifest: dict[str, Any]) -> str:
    """Where a store was encoded, with its autocast precision when it was not float32."""
    autocast = manifest.get("autocast", "off")
    return str(manifest["device"]) + ("" if autocast == "off" else f" ({autocast} autocast)")
