"""`xares compare A.json B.json`: per task, how much A and B differ and whether that is more than the
luck of the test draw.

Each task's two results are matched clip by clip (by key) and scored on the same bootstrap draws of
the clips they share, so the difference's interval and p-value account for the clips being the same
(a paired test: much tighter than comparing two separate intervals). A difference is marked
significant when p < alpha (default 0.05). The weighted averages are compared the same way, drawing
every task's shared clips in each replicate.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.table import Table

from xares import stats
from xares.report.leaderboard import encoder_labels, format_score, marks, task_label
from xares.report.results import AVERAGE_LABELS, PROBES, weighted_average


@dataclass
class Comparison:
    """One row: a task's (or an average's) score in A and B and the paired test of their difference."""

    name: str
    label: str
    probe: str  # mlp | knn
    metric: str
    higher_is_better: bool
    reported_a: float | None
    reported_b: float | None
    test: stats.PairedTest | None
    alpha: float

    @property
    def significant(self) -> bool:
        return bool(self.test and self.test.p_value is not None and self.test.p_value < self.alpha)

    @property
    def winner(self) -> str | None:
        """ "A" or "B" where the difference is significant, else None."""
        if not self.significant or self.test is None:
            return None
        a_higher = self.test.difference > 0
        return "A" if a_higher == self.higher_is_better else "B"


def _clips(task: dict[str, Any] | None) -> stats.TestClips | None:
    if not task or task["status"] != "ok" or not task.get("per_clip"):
        return None
    return stats.TestClips.from_json(task["per_clip"])


def _paired(
    clips_a: stats.TestClips | None, clips_b: stats.TestClips | None, score: str, resamples: int, seed: int
) -> tuple[stats.PairedTest | None, tuple[np.ndarray, np.ndarray] | None]:
    """The paired test of A against B and both sides' bootstrap draws; (None, None) without per-clip
    data on both sides, without resamples or without shared clips."""
    if clips_a is None or clips_b is None or resamples <= 0:
        return None, None
    drawn = stats.paired_draws(clips_a, clips_b, score, resamples=resamples, seed=seed)
    if drawn is None:
        return None, None
    score_a, score_b, draws_a, draws_b, count = drawn
    test = stats.summarise_pair(score_a, score_b, draws_a - draws_b, count, len(clips_a), len(clips_b))
    return test, (draws_a, draws_b)


def compare_results(
    a: dict[str, Any],
    b: dict[str, Any],
    *,
    resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = 0,
    alpha: float = 0.05,
) -> list[Comparison]:
    """Rows for every task and score (MLP, kNN) both results hold, then the weighted averages."""
    tasks_a = {t["name"]: t for t in a["tasks"]}
    tasks_b = {t["name"]: t for t in b["tasks"]}
    shared = sorted(set(tasks_a) & set(tasks_b), key=lambda n: tasks_a[n]["formal_name"].lower())
    rows: list[Comparison] = []
    for probe, score, _ in PROBES:
        draws: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in shared:
            task_a, task_b = tasks_a[name], tasks_b[name]
            if task_a.get(score) is None or task_b.get(score) is None:
                continue
            pair_seed = stats.stable_seed(seed, name, score)
            test, drawn = _paired(_clips(task_a), _clips(task_b), score, resamples, pair_seed)
            if drawn is not None:
                draws[name] = drawn
            rows.append(
                Comparison(
                    name=name,
                    label=task_label(task_a)
                    + marks(deviates=bool(task_a.get("deviations") or task_b.get("deviations"))),
                    probe=probe,
                    metric="accuracy" if probe == "knn" else task_a["metric"],
                    higher_is_better=bool(task_a.get("higher_is_better", True)),
                    reported_a=task_a[score],
                    reported_b=task_b[score],
                    test=test,
                    alpha=alpha,
                )
            )
        for scope in ("public", "all"):
            rows.append(_average_row(a, b, probe, score, scope, draws, tasks_a, alpha))
    return rows + _llm_rows(a, b, resamples=resamples, seed=seed, alpha=alpha)


# The LLM track's block (xares.llm.results) compares like a probe: the same paired test on its clips.
SHOWN = (*PROBES, ("llm", "score", "LLM track"))


def _llm_rows(
    a: dict[str, Any], b: dict[str, Any], *, resamples: int, seed: int, alpha: float
) -> list[Comparison]:
    """One row per task both LLM blocks scored, with the paired test over their shared test clips."""
    if not a.get("llm") or not b.get("llm"):
        return []
    tasks_a = {t["name"]: t for t in a["llm"]["tasks"] if t.get("score") is not None}
    tasks_b = {t["name"]: t for t in b["llm"]["tasks"] if t.get("score") is not None}
    rows = []
    for name in sorted(set(tasks_a) & set(tasks_b)):
        task_a, task_b = tasks_a[name], tasks_b[name]
        test = None
        if task_a.get("per_clip") and task_b.get("per_clip") and resamples > 0:
            clips_a = stats.TestClips.from_json(task_a["per_clip"])
            clips_b = stats.TestClips.from_json(task_b["per_clip"])
            test, _ = _paired(clips_a, clips_b, "mlp_score", resamples, stats.stable_seed(seed, name, "llm"))
        rows.append(
            Comparison(
                name=name,
                label=name,
                probe="llm",
                metric=task_a["metric"],
                higher_is_better=True,
                reported_a=task_a["score"],
                reported_b=task_b["score"],
                test=test,
                alpha=alpha,
            )
        )
    return rows


def _average_row(
    a: dict[str, Any],
    b: dict[str, Any],
    probe: str,
    score: str,
    scope: str,
    draws: dict[str, tuple[np.ndarray, np.ndarray]],
    tasks_a: dict[str, dict[str, Any]],
    alpha: float,
) -> Comparison:
    average_a = a["averages"].get(f"{probe}_{scope}", {})
    average_b = b["averages"].get(f"{probe}_{scope}", {})
    included = average_a.get("tasks", [])
    label = AVERAGE_LABELS[scope]
    if set(included) != set(average_b.get("tasks", [])):  # e.g. a run beside a published table
        tasks_b = {t["name"]: t for t in b["tasks"]}
        included = [t for t in included if t in set(average_b.get("tasks", []))]
        # each side's own weights; both averages' tasks passed weighted_average's filter already
        average_a = weighted_average([tasks_a[n] for n in included], score, public_only=False)
        average_b = weighted_average([tasks_b[n] for n in included], score, public_only=False)
        label = f"{label}, over the {len(included)} tasks both hold"
    deviating = {t["name"] for doc in (a, b) for t in doc["tasks"] if t.get("deviations")}
    label += marks(deviates=bool(deviating & set(included)))
    test = None
    if included and set(included) == set(average_b.get("tasks", [])) and all(t in draws for t in included):
        weights = {t: tasks_a[t]["eval_weight"] for t in included}
        total = sum(weights.values())
        mean_a = sum(draws[t][0] * weights[t] for t in included) / total
        mean_b = sum(draws[t][1] * weights[t] for t in included) / total
        test = stats.summarise_pair(
            average_a["value"], average_b["value"], np.asarray(mean_a - mean_b), 0, 0, 0
        )
    return Comparison(
        name=f"average_{scope}",
        label=label,
        probe=probe,
        metric="",
        higher_is_better=True,
        reported_a=average_a.get("value"),
        reported_b=average_b.get("value"),
        test=test,
        alpha=alpha,
    )


def caveats(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What makes the two results less comparable than they look."""
    notes = []
    for key in ("protocol", "seeds"):
        if a["run"].get(key) != b["run"].get(key):
            notes.append(f"different {key}: {a['run'].get(key)} vs {b['run'].get(key)}")
    suite_a, suite_b = a["run"].get("suite"), b["run"].get("suite")
    if suite_a and suite_b and suite_a["suite"] != suite_b["suite"]:
        changed = sorted(
            name
            for name in set(suite_a["tasks"]) & set(suite_b["tasks"])
            if suite_a["tasks"][name] != suite_b["tasks"][name]
        )
        if changed:
            notes.append(f"task files that differ between the two runs: {changed}")
    for side, doc in (("A", a), ("B", b)):
        for task in doc["tasks"]:
            for deviation in task.get("deviations") or []:
                notes.append(f"{side}'s {task['name']} is not the published protocol: {deviation}")
    names_a, names_b = {t["name"] for t in a["tasks"]}, {t["name"] for t in b["tasks"]}
    if names_a != names_b:
        notes.append(f"tasks in one result only: {sorted(names_a ^ names_b)}")
    if bool(a.get("llm")) != bool(b.get("llm")):
        notes.append("only one result has an LLM-track block; its scores are not compared")
    elif a.get("llm") and b.get("llm"):
        for key in ("configuration", "steps", "seed"):
            if a["llm"].get(key) != b["llm"].get(key):
                notes.append(f"LLM track: different {key}: {a['llm'].get(key)} vs {b['llm'].get(key)}")
        if a["llm"]["llm"].get("revision") != b["llm"]["llm"].get("revision"):
            notes.append(f"LLM track: different LMs: {a['llm']['llm']['name']} vs {b['llm']['llm']['name']}")
    return notes


def comparison_cells(row: Comparison, labels: Sequence[str]) -> list[str]:
    test = row.test
    interval = f"[{test.interval[0]:+.3f}, {test.interval[1]:+.3f}]" if test and test.interval else "-"
    p_value = "-" if not test or test.p_value is None else f"{test.p_value:.3f}"
    known = row.reported_a is not None and row.reported_b is not None
    difference = test.difference if test else (row.reported_a - row.reported_b if known else None)
    mark = f"* {labels[0] if row.winner == 'A' else labels[1]} better" if row.significant else ""
    if test is None:
        mark = "no paired test: no per-clip data"
    elif test.clips_a and (test.shared_clips < test.clips_a or test.shared_clips < test.clips_b):
        mark += f" ({test.shared_clips} shared clips)"
    reported = [format_score(row.reported_a), format_score(row.reported_b)]
    signed = "-" if difference is None else f"{difference:+.3f}"
    return [*reported, signed, interval, p_value, mark.strip()]


COLUMNS = ("A", "B", "A − B", "95% interval", "p", "")


def sections(rows: list[Comparison]) -> Iterator[tuple[str, list[Comparison]]]:
    """(title, rows) of each probe, in SHOWN's order, that compared at least one task."""
    for probe, _, title in SHOWN:
        selected = [r for r in rows if r.probe == probe and (r.reported_a is not None or r.test)]
        if any(not r.name.startswith("average_") for r in selected):
            yield title, selected


def comparison_table(rows: list[Comparison], labels: Sequence[str]) -> list[Table]:
    tables = []
    for title, selected in sections(rows):
        table = Table(title=f"{title}: {labels[0]} (A) vs {labels[1]} (B)")
        table.add_column("Task", no_wrap=True)
        for column in COLUMNS:
            table.add_column(column, justify="right" if column else "left")
        for row in selected:
            if row.name == "average_public":
                table.add_section()
            cells = comparison_cells(row, labels)
            if row.significant:
                cells[2] = f"[bold]{cells[2]}[/bold]"
            table.add_row(row.label, *cells)
        tables.append(table)
    return tables


def comparison_markdown(rows: list[Comparison], labels: Sequence[str], notes: Sequence[str] = ()) -> str:
    lines = []
    for title, selected in sections(rows):
        lines += [f"**{title}: {labels[0]} (A) vs {labels[1]} (B)**", ""]
        lines.append("| Task | " + " | ".join(c or "significant" for c in COLUMNS) + " |")
        lines.append("|---|" + "---|" * len(COLUMNS))
        for row in selected:
            lines.append(f"| {row.label} | " + " | ".join(comparison_cells(row, labels)) + " |")
        lines.append("")
    lines.append(
        "A − B and its 95% interval come from a paired bootstrap over the test clips both results share "
        "(matched by key); p is the two-sided bootstrap p-value of no difference; * marks p < 0.05."
    )
    lines += [f"Note: {n}." for n in notes]
    return "\n".join(lines) + "\n"


def compare_files(documents: Sequence[dict[str, Any]], *, resamples: int, seed: int = 0) -> tuple:
    """(rows, labels, notes) of two loaded results documents."""
    a, b = documents
    return compare_results(a, b, resamples=resamples, seed=seed), encoder_labels(documents), caveats(a, b)
