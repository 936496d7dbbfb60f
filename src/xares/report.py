"""results.json, the one source of truth of a run, and the views rendered from it.

Schema (version 1):

    schema_version  1
    xares_version   package version that wrote the file
    created         UTC time, ISO 8601
    encoder         name, fingerprint, source, sampling_rate, hop_size_in_ms, output_dim, num_parameters
    run             stages run, max_jobs, env_root, overwrite policy
    tasks           one object per task: name, formal_name, domain, private, metric, higher_is_better,
                    eval_weight, mlp_score, knn_score, num_test_clips, status (ok|failed|disabled),
                    error, seed, timings (seconds per stage), folds (per-fold details), cached
    averages        mlp / knn weighted averages over public tasks and over all tasks, with the weighting

Averages weight each task's score by its eval_weight over the tasks that produced that score. Metrics
where lower is better (MSE, MAE, EER) cannot be averaged with accuracies and are left out; the
averages say which tasks they include.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import xares
from xares.errors import ArtifactError
from xares.store import write_json_atomic

SCHEMA_VERSION = 1
REQUIRED_TASK_FIELDS = ("name", "formal_name", "metric", "mlp_score", "knn_score", "eval_weight", "status")


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


def build_results(
    encoder: dict[str, Any], tasks: list[dict[str, Any]], run: dict[str, Any]
) -> dict[str, Any]:
    tasks = sorted(tasks, key=lambda t: t["formal_name"].lower())
    return {
        "schema_version": SCHEMA_VERSION,
        "xares_version": xares.__version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "encoder": encoder,
        "run": run,
        "tasks": tasks,
        "averages": {
            f"{score}_{scope}": weighted_average(tasks, f"{score}_score", public_only=scope == "public")
            for score in ("mlp", "knn")
            for scope in ("public", "all")
        },
    }


def save_results(results: dict[str, Any], path: Path) -> None:
    write_json_atomic(path, results)


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and validate a results file; older schema versions are accepted as they are defined."""
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read results ({exc}).") from exc
    version = results.get("schema_version") if isinstance(results, dict) else None
    if version != SCHEMA_VERSION:
        raise ArtifactError(
            f"{path}: schema_version {version!r} is not one this X-ARES reads ({SCHEMA_VERSION}). "
            "Upgrade xares, or re-run the benchmark."
        )
    for index, task in enumerate(results.get("tasks", [])):
        missing = [f for f in REQUIRED_TASK_FIELDS if f not in task]
        if missing:
            raise ArtifactError(f"{path}: task #{index} lacks {missing}; the file is damaged or hand-edited.")
    return results


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def results_table(results: dict[str, Any]) -> Table:
    """The table of the upstream README: one row per task, then the weighted averages."""
    encoder = results["encoder"]
    table = Table(title=f"X-ARES results: {encoder['name']} ({encoder['fingerprint'][:12]})")
    table.add_column("Task")
    table.add_column("Metric")
    table.add_column("MLP", justify="right")
    table.add_column("kNN", justify="right")
    table.add_column("Weight", justify="right")
    table.add_column("Status")
    for task in results["tasks"]:
        name = task["formal_name"] + (" (private)" if task.get("private") else "")
        status = (
            task["status"]
            if task["status"] != "failed"
            else f"[red]failed[/red]: {task.get('error', '')[:80]}"
        )
        table.add_row(
            name,
            task["metric"],
            _fmt(task["mlp_score"]),
            _fmt(task["knn_score"]),
            str(task["eval_weight"]),
            status,
        )
    averages = results["averages"]
    table.add_section()
    for scope, label in (
        ("public", "Weighted Average (public tasks)"),
        ("all", "Weighted Average (all tasks)"),
    ):
        table.add_row(
            label,
            "",
            _fmt(averages[f"mlp_{scope}"]["value"]),
            _fmt(averages[f"knn_{scope}"]["value"]),
            "",
            "",
        )
    return table


def print_results(results: dict[str, Any], console: Console | None = None) -> None:
    (console or Console()).print(results_table(results))
