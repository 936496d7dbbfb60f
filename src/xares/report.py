"""results.json, the one source of truth of a run, and the views rendered from it.

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
                    has its own): see xares.probes.layers
    averages        mlp / knn weighted averages over public tasks and over all tasks: value, ci95, the
                    weighting, and which tasks they include

Averages weight each task's score by its eval_weight over the tasks that produced that score. Metrics
where lower is better (MSE, MAE, EER) cannot be averaged with accuracies and are left out; the
averages say which tasks they include. Their intervals come from a joint bootstrap: every replicate
resamples the test clips of every task (see xares.stats).

Views: a terminal table (one results file) or leaderboard (several), a markdown leaderboard shaped
like the upstream README's tables, CSV, and (xares.html_report) a self-contained HTML report.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import datetime as dt
import io
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from xares import stats
from xares.errors import ArtifactError
from xares.store import write_json_atomic
from xares.version import __version__

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
PROTOCOLS = {
    "published": "kNN normalised per clip, as documented; model selection as published",
    "strict": "kNN normalised per clip; model selection never sees test data (validation carved from "
    "training data, k-fold: the next fold)",
    "xares-0.1.3": "both deviations of the public implementation: kNN normalises the training matrix per "
    "feature dimension; model selection as published",
}
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
    return {"value": value, "weighting": "eval_weight", "tasks": [t["name"] for t in included]}


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


def _decode_clips(task: dict[str, Any]) -> stats.TestClips | None:
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
        clips = _decode_clips(task) if task["status"] == "ok" else None
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
    for name, average in upgraded.get("averages", {}).items():
        average.setdefault("ci95", None)
        upgraded["averages"][name] = average
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
    from xares.published import is_published, published_document

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


# ----- the leaderboard: what every view shows -----------------------------------------------------------
@dataclass
class Cell:
    value: float | None
    std: float | None = None
    ci95: list[float] | None = None
    best: bool = False
    significant: bool = False  # best, and better than every other encoder in a paired test


@dataclass
class Row:
    name: str  # task name, or "average_public" / "average_all"
    label: str
    metric: str
    higher_is_better: bool
    cells: list[Cell]
    selection_on_test: bool = False
    is_average: bool = False
    tests: list[stats.PairedTest | None] = field(default_factory=list)  # best vs each other encoder


@dataclass
class Leaderboard:
    encoders: list[str]
    protocols: list[str]
    seeds: list[int]
    sections: dict[str, list[Row]]  # "mlp" / "knn" -> rows
    resamples: int


def encoder_labels(documents: Sequence[dict[str, Any]]) -> list[str]:
    """Encoder names (with the run's --layer and --autocast choices, if any), made unique with the
    fingerprint's start where two share a name."""
    names = [
        d["encoder"]["name"]
        + ("" if d["run"].get("layer") is None else f" @layer={d['run']['layer']}")
        + ("" if d["run"].get("autocast", "off") == "off" else f" ({d['run']['autocast']} autocast)")
        for d in documents
    ]
    return [
        n if names.count(n) == 1 else f"{n} ({d['encoder']['fingerprint'][:8]})"
        for n, d in zip(names, documents, strict=True)
    ]


def task_label(task: dict[str, Any]) -> str:
    return task["formal_name"] + (" (private)" if task.get("private") else "")


def build_leaderboard(
    documents: Sequence[dict[str, Any]], *, resamples: int = stats.DEFAULT_RESAMPLES, seed: int = 0
) -> Leaderboard:
    """Rows per task (union over the documents) and the weighted averages, for MLP and kNN, with the
    best value marked and, where per-clip data allows, a paired test of the best against the others."""
    tasks_by_doc = [{t["name"]: t for t in d["tasks"]} for d in documents]
    order: dict[str, dict[str, Any]] = {}
    for doc in documents:
        for task in doc["tasks"]:
            order.setdefault(task["name"], task)
    names = sorted(order, key=lambda n: (bool(order[n].get("private")), order[n]["formal_name"].lower()))
    sections: dict[str, list[Row]] = {}
    for probe, score, _ in PROBES:
        rows = []
        for name in names:
            tasks = [by_name.get(name) for by_name in tasks_by_doc]
            cells = [_task_cell(t, score) for t in tasks]
            if all(c.value is None for c in cells):
                continue
            template = order[name]
            row = Row(
                name=name,
                label=task_label(template),
                metric="accuracy" if probe == "knn" else template["metric"],
                higher_is_better=bool(template.get("higher_is_better", True)),
                cells=cells,
                selection_on_test=probe == "mlp"
                and any(bool(t and t.get("selection_on_test")) for t in tasks),
            )
            _mark_best(row, tasks, score, resamples=resamples, seed=seed)
            rows.append(row)
        for scope in ("public", "all"):
            cells = []
            for doc in documents:
                average = doc["averages"].get(f"{probe}_{scope}", {})
                cells.append(Cell(average.get("value"), None, average.get("ci95")))
            row = Row(f"average_{scope}", AVERAGE_LABELS[scope], "", True, cells, is_average=True)
            _mark_best(row, None, score, resamples=0, seed=seed)
            rows.append(row)
        if any(not r.is_average for r in rows):
            sections[probe] = rows
    return Leaderboard(
        encoders=encoder_labels(documents),
        protocols=[d["run"].get("protocol", "published") for d in documents],
        seeds=[int(d["run"].get("seeds", 1)) for d in documents],
        sections=sections,
        resamples=resamples,
    )


def _task_cell(task: dict[str, Any] | None, score: str) -> Cell:
    if task is None or task["status"] != "ok" or task.get(score) is None:
        return Cell(None)
    entry = task.get("scores", {}).get(score, {})
    return Cell(task[score], entry.get("std"), entry.get("ci95"))


def _mark_best(
    row: Row, tasks: list[dict[str, Any] | None] | None, score: str, *, resamples: int, seed: int
) -> None:
    values = [c.value for c in row.cells]
    finite = [v for v in values if v is not None]
    if len(finite) < 2:
        return
    best_value = max(finite) if row.higher_is_better else min(finite)
    best = [i for i, v in enumerate(values) if v == best_value]
    for i in best:
        row.cells[i].best = True
    if tasks is None or len(best) != 1 or resamples <= 0:
        return
    winner = best[0]
    clips_of = [_decode_clips(t) if t and t["status"] == "ok" else None for t in tasks]
    if clips_of[winner] is None:
        return
    tests = []
    for i, clips in enumerate(clips_of):
        if i == winner or values[i] is None:
            continue
        test = (
            stats.paired_test(
                clips_of[winner], clips, score, resamples=resamples, seed=stats.stable_seed(seed, row.name, i)
            )
            if clips is not None
            else None
        )
        tests.append(test)
    row.tests = tests
    row.cells[winner].significant = bool(tests) and all(
        t is not None and t.p_value is not None and t.p_value < ALPHA for t in tests
    )


def format_score(value: float | None, std: float | None = None, ci95: list[float] | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value:.3f}"
    if std is not None:
        text += f" ± {std:.3f}"
    if ci95 is not None:
        text += f" [{ci95[0]:.3f}, {ci95[1]:.3f}]"
    return text


def describe_protocol(board: Leaderboard) -> str:
    protocols = sorted(set(board.protocols))
    seeds = sorted(set(board.seeds))
    text = "; ".join(f"**{p}** ({PROTOCOLS.get(p, 'unknown')})" for p in protocols)
    if len(protocols) > 1:
        text += " — the columns were produced under different protocols and are not directly comparable"
    seed_text = " / ".join(str(s) for s in seeds)
    return f"{text}; {seed_text} seed(s) per head"


LEGEND = (
    "Values are scores on the test clips; ± s is the standard deviation over seeds, [a, b] the 95% "
    "bootstrap interval over test clips (k-fold: all held-out clips pooled). Bold marks the best value; † "
    "marks a best value that a paired bootstrap test over the same test clips finds better than every "
    "other encoder (p < 0.05). § marks tasks whose model selection saw the test data (published protocol: "
    "k-fold tasks and tasks whose validation split is their test split)."
)


def leaderboard_markdown(board: Leaderboard) -> str:
    """Tables shaped like the upstream README's: one column per encoder, best in bold, averages last."""
    titles = {"mlp": "MLP results", "knn": "kNN results"}
    lines = [f"Protocol: {describe_protocol(board)}.", ""]
    for probe, rows in board.sections.items():
        lines += [f"**{titles[probe]}**", ""]
        lines.append("| Task | " + " | ".join(board.encoders) + " |")
        lines.append("|---|" + "---|" * len(board.encoders))
        for row in rows:
            label = row.label + (" §" if row.selection_on_test else "")
            cells = [_markdown_cell(c) for c in row.cells]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(LEGEND)
    return "\n".join(lines) + "\n"


def _markdown_cell(cell: Cell) -> str:
    if cell.value is None:
        return "-"
    value = f"{cell.value:.3f}"
    text = f"**{value}**" if cell.best else value
    if cell.significant:
        text += "†"
    if cell.std is not None:
        text += f" ± {cell.std:.3f}"
    if cell.ci95 is not None:
        text += f" [{cell.ci95[0]:.3f}, {cell.ci95[1]:.3f}]"
    return text


def leaderboard_table(board: Leaderboard) -> list[Table]:
    titles = {"mlp": "MLP results", "knn": "kNN results"}
    tables = []
    for probe, rows in board.sections.items():
        table = Table(title=titles[probe], caption=f"protocol: {', '.join(sorted(set(board.protocols)))}")
        table.add_column("Task", no_wrap=True)
        for name in board.encoders:
            table.add_column(name, justify="right")
        for row in rows:
            if row.is_average:
                table.add_section()
            cells = []
            for cell in row.cells:
                text = format_score(cell.value, cell.std, cell.ci95) + ("†" if cell.significant else "")
                cells.append(f"[bold]{text}[/bold]" if cell.best else text)
            table.add_row(row.label + (" §" if row.selection_on_test else ""), *cells)
        tables.append(table)
    return tables


CSV_COLUMNS = (
    "encoder",
    "fingerprint",
    "protocol",
    "seeds",
    "task",
    "formal_name",
    "private",
    "probe",
    "score",
    "metric",
    "higher_is_better",
    "value",
    "std",
    "ci95_low",
    "ci95_high",
    "eval_weight",
    "num_test_clips",
    "status",
    "selection_on_test",
)


def results_csv(documents: Sequence[dict[str, Any]]) -> str:
    """One row per (encoder, task, score) plus the averages: long format, easy to pivot."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for label, doc in zip(encoder_labels(documents), documents, strict=True):
        common = {
            "encoder": label,
            "fingerprint": doc["encoder"]["fingerprint"],
            "protocol": doc["run"].get("protocol"),
            "seeds": doc["run"].get("seeds", 1),
        }
        for task in doc["tasks"]:
            base = {
                **common,
                "task": task["name"],
                "formal_name": task["formal_name"],
                "private": bool(task.get("private")),
                "eval_weight": task["eval_weight"],
                "num_test_clips": task.get("num_test_clips"),
                "status": task["status"],
                "selection_on_test": task.get("selection_on_test"),
            }
            if task["status"] != "ok" or not task.get("scores"):
                writer.writerow(base)
                continue
            for name, score in task["scores"].items():
                probe = "knn" if name == "knn_score" else "mlp"
                metric = {"mlp_score": task["metric"], "knn_score": "accuracy"}.get(name, name)
                interval = score.get("ci95") or [None, None]
                writer.writerow(
                    {
                        **base,
                        "probe": probe,
                        "score": name,
                        "metric": metric,
                        "higher_is_better": task.get("higher_is_better", True)
                        if name in ("mlp_score", "knn_score")
                        else None,
                        "value": _csv_number(score.get("value")),
                        "std": _csv_number(score.get("std")),
                        "ci95_low": _csv_number(interval[0]),
                        "ci95_high": _csv_number(interval[1]),
                    }
                )
        for key, average in doc["averages"].items():
            probe, scope = key.split("_")
            interval = average.get("ci95") or [None, None]
            writer.writerow(
                {
                    **common,
                    "task": f"average_{scope}",
                    "formal_name": AVERAGE_LABELS[scope],
                    "probe": probe,
                    "score": f"{probe}_score",
                    "metric": "eval_weight-weighted mean",
                    "higher_is_better": True,
                    "value": _csv_number(average.get("value")),
                    "ci95_low": _csv_number(interval[0]),
                    "ci95_high": _csv_number(interval[1]),
                    "eval_weight": sum(
                        t["eval_weight"] for t in doc["tasks"] if t["name"] in average.get("tasks", [])
                    ),
                    "status": "ok",
                }
            )
    return buffer.getvalue()


def _csv_number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def layer_label(task: dict[str, Any]) -> str:
    """Which layer a task's heads used: '' for a single-layer encoder at its default, else e.g.
    'last of 4', '1 of 4', 'weighted (1: 0.69)' (the layer with the largest learned weight)."""
    layers, choice = int(task.get("num_layers") or 1), task.get("layer")
    if choice is None:
        return "" if layers <= 1 else f"last of {layers}"
    if choice != "weighted":
        return f"{choice} of {layers}"
    weights = task.get("layer_weights")
    if not weights:
        return "weighted"
    top = int(np.argmax(weights))
    return f"weighted ({top}: {weights[top]:.2f})"


def results_table(results: dict[str, Any]) -> Table:
    """The table of one run: one row per task (scores with intervals), then the weighted averages."""
    encoder = results["encoder"]
    protocol = results["run"].get("protocol", "published")
    seeds = results["run"].get("seeds", 1)
    table = Table(
        title=f"X-ARES results: {encoder['name']} ({encoder['fingerprint'][:12]})",
        caption=f"protocol {protocol}, {seeds} seed(s); \\[a, b]: 95% bootstrap interval over test clips; "
        "§: model selection saw test data",
    )
    table.add_column("Task", no_wrap=True)
    table.add_column("Metric")
    table.add_column("MLP", justify="right")
    table.add_column("kNN", justify="right")
    table.add_column("Weight", justify="right")
    layered = any(layer_label(task) for task in results["tasks"])
    if layered:
        table.add_column("Layer")
    table.add_column("Status")
    for task in results["tasks"]:
        name = task_label(task) + (" §" if task.get("selection_on_test") else "")
        status = (
            task["status"]
            if task["status"] != "failed"
            else f"[red]failed[/red]: {(task.get('error') or '')[:80]}"
        )
        scores = task.get("scores", {})
        table.add_row(
            name,
            task["metric"],
            format_score(task["mlp_score"], *_spread(scores.get("mlp_score"))),
            format_score(task["knn_score"], *_spread(scores.get("knn_score"))),
            str(task["eval_weight"]),
            *([layer_label(task)] if layered else []),
            status,
        )
    averages = results["averages"]
    table.add_section()
    for scope in ("public", "all"):
        mlp, knn = averages[f"mlp_{scope}"], averages[f"knn_{scope}"]
        table.add_row(
            AVERAGE_LABELS[scope],
            "",
            format_score(mlp["value"], None, mlp.get("ci95")),
            format_score(knn["value"], None, knn.get("ci95")),
            "",
            *([""] if layered else []),
            "",
        )
    return table


def _spread(score: dict[str, Any] | None) -> tuple[float | None, list[float] | None]:
    return (None, None) if not score else (score.get("std"), score.get("ci95"))


def print_wide(console: Console, renderable: Any) -> None:
    """Print a table; where the output is no terminal (a log, a pipe) at its natural width rather than
    squeezed into 80 columns."""
    if console.is_terminal:
        console.print(renderable)
        return
    from rich.measure import Measurement

    previous = console.width
    console.width = max(
        previous, Measurement.get(console, console.options.update_width(240), renderable).maximum
    )
    try:
        console.print(renderable)
    finally:
        console.width = previous


def print_results(results: dict[str, Any], console: Console | None = None) -> None:
    print_wide(console or Console(), results_table(results))


def efficiency_line(results: dict[str, Any]) -> str:
    info = results["encoder"]
    eff = info.get("efficiency") or {}
    parts = [
        f"{info.get('num_parameters', 0):,} parameters",
        f"{info.get('output_dim')}-d",
        f"hop {info.get('hop_size_in_ms')} ms",
    ]
    if eff.get("real_time_factor"):
        parts.append(f"encodes {eff['real_time_factor']:g}x real time on {', '.join(eff.get('devices', []))}")
    if eff.get("peak_memory_mb"):
        parts.append(f"peak memory {eff['peak_memory_mb']:.0f} MB")
    return f"{info['name']} ({info['fingerprint'][:12]}): " + ", ".join(parts)


def render(documents: Sequence[dict[str, Any]], fmt: str, *, resamples: int = stats.DEFAULT_RESAMPLES) -> str:
    """The text of a view: "markdown", "csv" or "html" (table goes to a console, see print_report)."""
    if fmt == "csv":
        return results_csv(documents)
    if fmt == "markdown":
        return leaderboard_markdown(build_leaderboard(documents, resamples=resamples))
    if fmt == "html":
        from xares.html_report import html_report

        return html_report(documents, resamples=resamples)
    raise ValueError(f"unknown report format {fmt!r}; choose table, markdown, csv or html")


def print_report(documents: Sequence[dict[str, Any]], console: Console, *, resamples: int) -> None:
    """The terminal view: one run's table, or the leaderboard of several."""
    if len(documents) == 1:
        print_results(documents[0], console)
    else:
        for table in leaderboard_table(build_leaderboard(documents, resamples=resamples)):
            print_wide(console, table)
    for doc in documents:
        console.print(efficiency_line(doc), highlight=False)


# ----- progress of long steps ---------------------------------------------------------------------------
# How long steps show progress: "bar" (a rich bar on a terminal), "lines" (a plain line now and then, for
# logs and pipes), or "off" (--quiet). Set per task by XaresTask, read by the encode and probe stages.
_PROGRESS_MODE: contextvars.ContextVar[str] = contextvars.ContextVar("xares_progress", default="off")
LINE_INTERVAL_S = 10.0


@contextlib.contextmanager
def progress_mode(mode: str) -> Iterator[None]:
    if mode not in ("bar", "lines", "off"):
        raise ValueError(f"progress mode must be bar, lines or off, got {mode!r}")
    token = _PROGRESS_MODE.set(mode)
    try:
        yield
    finally:
        _PROGRESS_MODE.reset(token)


class StepProgress:
    """Counts of one long step (clips encoded, epochs trained) with rate and ETA."""

    def __init__(
        self, label: str, total: int | Callable[[], int | None] | None, unit: str, mode: str
    ) -> None:
        if callable(total):  # counting may cost a pass over the data: only when something is shown
            total = total() if mode != "off" else None
        self.label, self.total, self.unit, self.mode = label, total, unit, mode
        self._closed = False
        self.done = 0
        self.started = self._last_line = time.monotonic()
        self._bar: Any = None
        if mode == "bar":
            self._bar = _rich_progress(unit)
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.advance(self._task, count)
        elif self.mode == "lines" and time.monotonic() - self._last_line >= LINE_INTERVAL_S:
            self._last_line = time.monotonic()
            self._print(self._status())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.stop()
        elif self.mode == "lines":
            elapsed = time.monotonic() - self.started
            rate = f", {self.done / elapsed:.1f} {self.unit}/s" if elapsed > 0 else ""
            self._print(f"{self.label}: {self.done} {self.unit} in {elapsed:.1f} s{rate}")

    def _status(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        text = f"{self.label}: {self.done}" + (f"/{self.total}" if self.total else "") + f" {self.unit}"
        text += f", {rate:.1f} {self.unit}/s"
        if self.total and rate > 0:
            text += f", ETA {(self.total - self.done) / rate:.0f} s"
        return text

    @staticmethod
    def _print(text: str) -> None:
        print(text, file=sys.stderr, flush=True)


def _rich_progress(unit: str) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.1f} {unit}/s" if speed else "", style="progress.data.speed")

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def start_progress(label: str, total: int | Callable[[], int | None] | None, unit: str) -> StepProgress:
    """A progress display for one step, in the mode the running task chose; call close() when done.

    `total` may be a function that counts, called only when progress is shown."""
    return StepProgress(label, total, unit, _PROGRESS_MODE.get())


@contextlib.contextmanager
def progress(label: str, total: int | Callable[[], int | None] | None, unit: str) -> Iterator[StepProgress]:
    """start_progress as a context manager."""
    step = start_progress(label, total, unit)
    try:
        yield step
    finally:
        step.close()
