"""The leaderboard: what every view of several results shows. Rows per task and the weighted averages,
for MLP and kNN, the best value marked and tested against the others on the same test clips."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from xares import stats
from xares.protocols import PROTOCOLS
from xares.report.results import ALPHA, AVERAGE_LABELS, PROBES, decode_clips

SECTION_TITLES = {"mlp": "MLP results", "knn": "kNN results"}


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
    deviates: bool = False  # a task run with settings other than its task file's, or an average of one
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
                deviates=any(bool(t and t.get("deviations")) for t in tasks),
            )
            _mark_best(row, tasks, score, resamples=resamples, seed=seed)
            rows.append(row)
        for scope in ("public", "all"):
            averages = [d["averages"].get(f"{probe}_{scope}", {}) for d in documents]
            cells = [Cell(average.get("value"), None, average.get("ci95")) for average in averages]
            row = Row(f"average_{scope}", AVERAGE_LABELS[scope], "", True, cells, is_average=True)
            row.deviates = any(average.get("not_published") for average in averages)
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
    clips_of = [decode_clips(t) if t and t["status"] == "ok" else None for t in tasks]
    if clips_of[winner] is None:
        return
    row.tests = [
        None
        if clips is None
        else stats.paired_test(
            clips_of[winner], clips, score, resamples=resamples, seed=stats.stable_seed(seed, row.name, i)
        )
        for i, clips in enumerate(clips_of)
        if i != winner and values[i] is not None
    ]
    row.cells[winner].significant = bool(row.tests) and all(
        t is not None and t.p_value is not None and t.p_value < ALPHA for t in row.tests
    )


def marks(*, selection_on_test: bool = False, deviates: bool = False) -> str:
    """The marks after a task's name in every view (see LEGEND)."""
    return (" §" if selection_on_test else "") + (" ‡" if deviates else "")


def row_marks(row: Row) -> str:
    return marks(selection_on_test=row.selection_on_test, deviates=row.deviates)


def task_marks(task: dict[str, Any]) -> str:
    return marks(selection_on_test=bool(task.get("selection_on_test")), deviates=bool(task.get("deviations")))


def format_score(value: float | None, std: float | None = None, ci95: list[float] | None = None) -> str:
    return "-" if value is None else f"{value:.3f}" + format_spread(std, ci95)


def format_spread(std: float | None, ci95: list[float] | None) -> str:
    """' ± std [low, high]', each part only where known."""
    text = "" if std is None else f" ± {std:.3f}"
    return text + ("" if ci95 is None else f" [{ci95[0]:.3f}, {ci95[1]:.3f}]")


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
    "k-fold tasks and tasks whose validation split is their test split). ‡ marks a task run with a head or "
    "setting other than its task file's (its `deviations` in results.json), and an average that includes "
    "one: not the published protocol, not comparable with published numbers."
)
