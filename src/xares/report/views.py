"""The text views of results: a terminal table (one results file) or leaderboard (several), a markdown
leaderboard shaped like the upstream README's tables, CSV, and (xares.report.html) a self-contained
HTML report."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from xares import stats
from xares.report.html import html_report
from xares.report.leaderboard import (
    LEGEND,
    SECTION_TITLES,
    Cell,
    Leaderboard,
    build_leaderboard,
    describe_protocol,
    encoder_labels,
    format_score,
    format_spread,
    marks,
    row_marks,
    task_label,
    task_marks,
)
from xares.report.results import AVERAGE_LABELS


def leaderboard_markdown(board: Leaderboard) -> str:
    """Tables shaped like the upstream README's: one column per encoder, best in bold, averages last."""
    lines = [f"Protocol: {describe_protocol(board)}.", ""]
    for probe, rows in board.sections.items():
        lines += [f"**{SECTION_TITLES[probe]}**", ""]
        lines.append("| Task | " + " | ".join(board.encoders) + " |")
        lines.append("|---|" + "---|" * len(board.encoders))
        for row in rows:
            label = row.label + row_marks(row)
            cells = [_markdown_cell(c) for c in row.cells]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(LEGEND)
    return "\n".join(lines) + "\n"


def _markdown_cell(cell: Cell) -> str:
    if cell.value is None:
        return "-"
    value = f"**{cell.value:.3f}**" if cell.best else f"{cell.value:.3f}"
    return value + ("†" if cell.significant else "") + format_spread(cell.std, cell.ci95)


def leaderboard_table(board: Leaderboard) -> list[Table]:
    tables = []
    for probe, rows in board.sections.items():
        caption = f"protocol: {', '.join(sorted(set(board.protocols)))}"
        table = Table(title=SECTION_TITLES[probe], caption=caption)
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
            table.add_row(row.label + row_marks(row), *cells)
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
    "deviations",  # settings other than the task file's ("; "-joined): not the published protocol
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
                "deviations": "; ".join(task.get("deviations") or []),
            }
            if task["status"] != "ok" or not task.get("scores"):
                writer.writerow(base)
                continue
            for name, score in task["scores"].items():
                headline = name in ("mlp_score", "knn_score")
                writer.writerow(
                    {
                        **base,
                        "probe": "knn" if name == "knn_score" else "mlp",
                        "score": name,
                        "metric": {"mlp_score": task["metric"], "knn_score": "accuracy"}.get(name, name),
                        "higher_is_better": task.get("higher_is_better", True) if headline else None,
                        **_csv_numbers(score.get("value"), score.get("std"), score.get("ci95")),
                    }
                )
        for key, average in doc["averages"].items():
            probe, scope = key.split("_")
            writer.writerow(
                {
                    **common,
                    "task": f"average_{scope}",
                    "formal_name": AVERAGE_LABELS[scope],
                    "probe": probe,
                    "score": f"{probe}_score",
                    "metric": "eval_weight-weighted mean",
                    "higher_is_better": True,
                    **_csv_numbers(average.get("value"), None, average.get("ci95")),
                    "eval_weight": sum(
                        t["eval_weight"] for t in doc["tasks"] if t["name"] in average.get("tasks", [])
                    ),
                    "status": "ok",
                    "deviations": "; ".join(
                        f"includes {name}, not the published protocol"
                        for name in average.get("not_published", [])
                    ),
                }
            )
    return buffer.getvalue()


def _csv_numbers(value: float | None, std: float | None, ci95: list[float] | None) -> dict[str, str]:
    low, high = ci95 or (None, None)
    numbers = {"value": value, "std": std, "ci95_low": low, "ci95_high": high}
    return {key: "" if number is None else f"{number:.6g}" for key, number in numbers.items()}


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
        "§: model selection saw test data; ‡: not the task file's protocol (results.json: deviations)",
    )
    table.add_column("Task", no_wrap=True)
    table.add_column("Metric")
    for column in ("MLP", "kNN", "Weight"):
        table.add_column(column, justify="right")
    layered = any(layer_label(task) for task in results["tasks"])
    if layered:
        table.add_column("Layer")
    table.add_column("Status")
    for task in results["tasks"]:
        name = task_label(task) + task_marks(task)
        status = task["status"]
        if status == "failed":
            status = f"[red]failed[/red]: {(task.get('error') or '')[:80]}"
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
            AVERAGE_LABELS[scope]
            + marks(deviates=bool(mlp.get("not_published") or knn.get("not_published"))),
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
        from xares.report.llm import llm_sections_markdown

        board = leaderboard_markdown(build_leaderboard(documents, resamples=resamples))
        return board + llm_sections_markdown(list(documents))
    if fmt == "html":
        return html_report(documents, resamples=resamples)
    raise ValueError(f"unknown report format {fmt!r}; choose table, markdown, csv or html")


def print_report(documents: Sequence[dict[str, Any]], console: Console, *, resamples: int) -> None:
    """The terminal view: one run's table, or the leaderboard of several."""
    if len(documents) == 1:
        print_results(documents[0], console)
    else:
        for table in leaderboard_table(build_leaderboard(documents, resamples=resamples)):
            print_wide(console, table)
    from xares.report.llm import print_llm_blocks

    print_llm_blocks(list(documents), console)
    for doc in documents:
        console.print(efficiency_line(doc), highlight=False)
