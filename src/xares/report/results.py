"""results.json, the one source of truth of a run: build, add statistics, upgrade, validate, load.

Schema (version 2; version 1 files are still read, see `upgrade_v1`):

    schema_version  2
    xares_version   package version that wrote the file
    created         UTC time, ISO 8601
    encoder         name, fingerprint, source, sampling_rate, hop_size_in_ms, output_dim, num_parameters,
                    pads_safely, num_layers (null: a [B, T', D] encoder), efficiency (audio seconds,
                    encode seconds, real-time factor, devices, peak memory)
    run             stages, max_jobs, env_root, overwrite policy, seconds, protocol, seeds (how many),
                    layer (--layer: null, K or "weighted"), bootstrap (resamples, confidence, seed)
    tasks           one object per task: name, formal_name, domain, private, metric, higher_is_better,
                    eval_weight, mlp_score, knn_score, metrics (secondary), num_test_clips, status
                    (ok|failed|disabled), error, seed, seeds, protocol, probe (settings), selection,
                    selection_on_test, timings (seconds per stage), encode (store statistics), folds,
                    scores (per score: value, std over seeds, per_seed, ci95), per_class, per_clip
                    (compact per-clip test data: see xares.stats), skipped, cached, layer (the choice;
                    null: the last), num_layers, layer_weights (learned under "weighted"; each fold
                    has its own): see xares.probes.layers; deviations (the run's settings that
                    differ from the task file's, in words: the task is not the published protocol)
    averages        mlp / knn weighted averages over public tasks and over all tasks: value, ci95, the
                    weighting, and which tasks they include (not_published: those of them with
                    deviations, present only when there are some)

Averages weight each task's score by its eval_weight over the tasks that produced that score. Metrics
where lower is better (MSE, MAE, EER) cannot be averaged with accuracies and are left out; the
averages say which tasks they include. Their intervals come from a joint bootstrap: every replicate
resamples the test clips of every task (see xares.stats).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from xares import stats
from xares.atomic import write_json_atomic
from xares.errors import ArtifactError
from xares.protocols import PROTOCOLS
from xares.published import is_published, published_document
from xares.version import __version__

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
REQUIRED_TASK_FIELDS = ("name", "formal_name", "metric", "mlp_score", "knn_score", "eval_weight", "status")
TASK_STATUSES = ("ok", "failed", "disabled")
AVERAGE_KEYS = ("mlp_public", "mlp_all", "knn_public", "knn_all")
AVERAGE_LABELS = {"public": "Weighted Average (public tasks)", "all": "Weighted Average (all tasks)"}
PROBES = (("mlp", "mlp_score", "MLP"), ("knn", "knn_score", "kNN"))
ALPHA = 0.05  # significance level of the paired tests


# ----- building results.json ---------------------------------------------------------------------------
def weighted_average(tasks: list[dict[str, Any]], score: str, *, public_only: bool) -> dict[str, Any]:
    included = [
        t
        for t in tasks
        if t["status"] == "ok"
        and t.get(score) is not None
        and t.get("higher_is_better", True)
        and t["eval_weight"] > 0
        and not (public_only and t.get("private"))
    ]
    total = sum(t["eval_weight"] for t in included)
    value = sum(t[score] * t["eval_weight"] for t in included) / total if total else None
    average = {"value": value, "weighting": "eval_weight", "tasks": [t["name"] for t in included]}
    deviating = [t["name"] for t in included if t.get("deviations")]
    return average | ({"not_published": deviating} if deviating else {})


def _task_scores(task: dict[str, Any], clips: stats.TestClips | None) -> dict[str, dict[str, Any]]:
    """value / std over seeds / per-seed values of the headline and every secondary score."""
    seed_scores = task.get("seed_scores") or {}
    values = {
        "mlp_score": task.get("mlp_score"),
        "knn_score": task.get("knn_score"),
        **task.get("metrics", {}),
    }
    scores = {}
    for name, value in values.items():
        if value is None:
            continue
        summary = stats.summarise_seeds(seed_scores.get(name) or [value])
        scores[name] = {
            "value": value,
            "std": None if name == "knn_score" else summary.std,  # kNN trains nothing: seeds change nothing
            "per_seed": summary.per_seed,
            "ci95": None,
            "per_clip": clips is not None and name in clips.scores,
        }
    return scores


def decode_clips(task: dict[str, Any]) -> stats.TestClips | None:
    data = task.get("per_clip")
    if not data:
        return None
    try:
        return stats.TestClips.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"task {task.get('name')!r}: per-clip data is damaged ({exc}).") from exc


def add_statistics(
    results: dict[str, Any], *, resamples: int = stats.DEFAULT_RESAMPLES, seed: int = 0
) -> dict[str, Any]:
    """Fill in every task's scores (with bootstrap intervals) and per-class scores, and the averages
    with their joint intervals. Works on any results dict whose tasks carry per-clip data."""
    replicates: dict[str, dict[str, np.ndarray]] = {}
    for task in results["tasks"]:
        clips = decode_clips(task) if task["status"] == "ok" else None
        task["scores"] = _task_scores(task, clips) if task["status"] == "ok" else {}
        task["per_class"] = {}
        if clips is None:
            continue
        names = [n for n in task["scores"] if n in clips.scores]
        if resamples > 0 and names:
            draws = stats.bootstrap(
                clips, names, resamples=resamples, seed=stats.stable_seed(seed, task["name"])
            )
            replicates[task["name"]] = draws
            for name in names:
                value = task["scores"][name]["value"]
                task["scores"][name]["ci95"] = stats.interval(draws[name], observed=value)
        for probe, name, _ in PROBES:
            if name in clips.scores:
                per_class = stats.per_class_scores(clips, name)
                if per_class is not None:
                    task["per_class"][probe] = per_class
    results["averages"] = {}
    for probe, name, _ in PROBES:
        for scope in ("public", "all"):
            average = weighted_average(results["tasks"], name, public_only=scope == "public")
            average["ci95"] = _average_interval(
                results["tasks"], average["tasks"], name, replicates, average["value"]
            )
            results["averages"][f"{probe}_{scope}"] = average
    results["run"]["bootstrap"] = {
        "resamples": resamples,
        "confidence": stats.CONFIDENCE,
        "seed": seed,
        "method": "bias-corrected percentile intervals over test clips drawn with replacement (k-fold: "
        "all held-out clips pooled); averages resample every task jointly",
    }
    return results


def _average_interval(
    tasks: list[dict[str, Any]],
    included: list[str],
    name: str,
    replicates: dict[str, dict[str, np.ndarray]],
    value: float | None,
) -> list[float] | None:
    if not included or any(name not in replicates.get(t, {}) for t in included):
        return None  # an interval needs the per-clip data of every task in the average
    weights = {t["name"]: t["eval_weight"] for t in tasks}
    total = sum(weights[t] for t in included)
    draws = sum(replicates[t][name] * weights[t] for t in included) / total
    return stats.interval(np.asarray(draws), observed=value)


def efficiency(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """Encode speed and memory over the tasks, from their embedding stores' manifests and the run."""
    encoded = [t["encode"] for t in tasks if t.get("encode")]
    audio = sum(e.get("audio_seconds") or 0.0 for e in encoded)
    seconds = sum(e.get("seconds") or 0.0 for e in encoded)
    peaks = [e["peak_memory_mb"] for e in encoded if e.get("peak_memory_mb") is not None]
    gpu = [e["peak_gpu_memory_mb"] for e in encoded if e.get("peak_gpu_memory_mb") is not None]
    return {
        "audio_seconds": round(audio, 3),
        "encode_seconds": round(seconds, 3),
        "real_time_factor": round(audio / seconds, 2) if seconds > 0 else None,
        "devices": sorted({str(e["device"]) for e in encoded if e.get("device")}),
        "peak_memory_mb": max(peaks) if peaks else None,
        "peak_gpu_memory_mb": max(gpu) if gpu else None,
        "note": "real_time_factor = audio seconds / encode seconds, summed over every split's embedding "
        "store (store manifests: audio_seconds, seconds); peak memory = largest resident set of a "
        "process that ran a task (getrusage), GPU: torch.cuda.max_memory_allocated",
    }


def build_results(
    encoder: dict[str, Any],
    tasks: list[dict[str, Any]],
    run: dict[str, Any],
    *,
    resamples: int = stats.DEFAULT_RESAMPLES,
    bootstrap_seed: int = 0,
) -> dict[str, Any]:
    tasks = sorted(tasks, key=lambda t: t["formal_name"].lower())
    run = {"protocol": "published", "seeds": 1, **run}
    results = {
        "schema_version": SCHEMA_VERSION,
        "xares_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "encoder": {**encoder, "efficiency": efficiency(tasks)},
        "run": run,
        "tasks": tasks,
        "averages": {},
    }
    return add_statistics(results, resamples=resamples, seed=bootstrap_seed)


def save_results(results: dict[str, Any], path: Path) -> None:
    write_json_atomic(path, results)


# ----- reading results.json ---------------------------------------------------------------------------
def upgrade_v1(results: dict[str, Any]) -> dict[str, Any]:
    """A version-1 document in the version-2 shape: nothing is invented, missing statistics stay empty.

    Version 1 predates protocols; its kNN normalised per clip and its selection was the published one,
    which is the "published" protocol.
    """
    upgraded = json.loads(json.dumps(results))
    upgraded["schema_version"] = SCHEMA_VERSION
    upgraded["upgraded_from"] = 1
    upgraded["encoder"].setdefault("efficiency", {})
    run = upgraded.setdefault("run", {})
    run.setdefault("protocol", "published")
    run.setdefault("seeds", 1)
    for task in upgraded["tasks"]:
        task.setdefault("metrics", {})
        task.setdefault("seeds", [task.get("seed", 42)])
        task.setdefault("protocol", run["protocol"])
        task.setdefault("probe", {})
        task.setdefault("per_clip", None)
        task.setdefault("encode", {})
        task.setdefault("selection", "")
        task.setdefault("selection_on_test", None)
    return add_statistics(upgraded, resamples=0)


def validate_results(results: Any, where: str = "results") -> None:
    """Check the shape of a version-2 document; the error names the first field that is wrong."""

    def fail(message: str) -> None:
        raise ArtifactError(f"{where}: {message}; the file is damaged or hand-edited.")

    if not isinstance(results, dict):
        fail(f"expected a JSON object, found {type(results).__name__}")
    for key, kind in (("encoder", dict), ("run", dict), ("tasks", list), ("averages", dict)):
        if not isinstance(results.get(key), kind):
            fail(f"'{key}' must be a JSON {'object' if kind is dict else 'array'}")
    encoder = results["encoder"]
    if not isinstance(encoder.get("name"), str) or not isinstance(encoder.get("fingerprint"), str):
        fail("'encoder' needs a 'name' and a 'fingerprint' string")
    protocol = results["run"].get("protocol")
    if protocol not in PROTOCOLS:
        fail(f"run.protocol {protocol!r} is not one of {sorted(PROTOCOLS)}")
    for index, task in enumerate(results["tasks"]):
        if not isinstance(task, dict):
            fail(f"task #{index} is not an object")
        missing = [f for f in REQUIRED_TASK_FIELDS if f not in task]
        if missing:
            fail(f"task #{index} lacks {missing}")
        if task["status"] not in TASK_STATUSES:
            fail(f"task {task['name']!r} has status {task['status']!r}, not one of {list(TASK_STATUSES)}")
        for name in ("mlp_score", "knn_score"):
            if task[name] is not None and not isinstance(task[name], (int, float)):
                fail(f"task {task['name']!r}: {name} must be a number or null")
        if not isinstance(task.get("scores", {}), dict):
            fail(f"task {task['name']!r}: 'scores' must be an object")
        for name, score in task.get("scores", {}).items():
            interval = score.get("ci95") if isinstance(score, dict) else "?"
            if interval is not None and not (
                isinstance(interval, list) and len(interval) == 2 and interval[0] <= interval[1]
            ):
                fail(f"task {task['name']!r}: scores.{name}.ci95 must be null or [low, high]")
    missing = [k for k in AVERAGE_KEYS if k not in results["averages"]]
    if missing:
        fail(f"'averages' lacks {missing}")


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and validate a results file; version 1 files are upgraded in memory to the current shape.

    `published:NAME` reads the published scores of NAME instead (xares.published)."""
    if is_published(path):
        published = add_statistics(published_document(str(path)), resamples=0)
        validate_results(published, str(path))
        return published
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read results ({exc}).") from exc
    version = results.get("schema_version") if isinstance(results, dict) else None
    if version not in READABLE_VERSIONS:
        raise ArtifactError(
            f"{path}: schema_version {version!r} is not one this X-ARES reads {READABLE_VERSIONS}. "
            "Upgrade xares, or re-run the benchmark."
        )
    if version == 1:
        for index, task in enumerate(results.get("tasks", [])):
            missing = [f for f in REQUIRED_TASK_FIELDS if f not in task]
            if missing:
                raise ArtifactError(
                    f"{path}: task #{index} lacks {missing}; the file is damaged or hand-edited."
                )
        results = upgrade_v1(results)
    validate_results(results, str(path))
    return results
