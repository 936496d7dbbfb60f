"""PNG plots of results: per-task scores of several encoders side by side with their intervals, and per
task the confusion matrix (classifiers) or the per-class scores (multi-label, frame tasks).

matplotlib runs with the Agg backend (no display needed); it is imported on first use, so the rest of
xares works without it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xares import stats
from xares.report.leaderboard import Leaderboard, build_leaderboard, encoder_labels, row_marks, task_label
from xares.taskconfig import LOWER_IS_BETTER

PROBE_TITLES = {"mlp": "MLP (linear probe)", "knn": "kNN"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            "plots and the HTML report need matplotlib; install it with `pip install matplotlib`."
        ) from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def png_bytes(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    return buffer.getvalue()


def scores_figure(board: Leaderboard) -> Any:
    """Horizontal bars: for each task (and the averages) one bar per encoder, with its 95% interval."""
    plt = _pyplot()
    sections = list(board.sections.items())
    heights = [max(2.0, 0.28 * len(rows) * max(1, len(board.encoders)) + 1.0) for _, rows in sections]
    figure, axes = plt.subplots(
        len(sections),
        1,
        figsize=(8.5, sum(heights) or 2.0),
        gridspec_kw={"height_ratios": heights} if sections else None,
        squeeze=False,
    )
    colours = plt.get_cmap("tab10")
    count = max(1, len(board.encoders))
    width = 0.8 / count
    for axis, (probe, rows) in zip(axes[:, 0], sections, strict=True):
        positions = np.arange(len(rows))[::-1]
        for e, encoder in enumerate(board.encoders):
            values, lows, highs = [], [], []
            for row in rows:
                cell = row.cells[e]
                value = np.nan if cell.value is None else cell.value
                values.append(value)
                if cell.ci95 and np.isfinite(value):  # no whisker at all without an interval
                    lows.append(max(0.0, value - cell.ci95[0]))
                    highs.append(max(0.0, cell.ci95[1] - value))
                else:
                    lows.append(np.nan)
                    highs.append(np.nan)
            offsets = positions + (count - 1 - 2 * e) * width / 2
            axis.barh(
                offsets,
                values,
                height=width,
                color=colours(e % 10),
                label=encoder,
                xerr=[lows, highs],
                error_kw={"elinewidth": 1, "capsize": 2, "ecolor": "black"},
            )
            for y, cell in zip(offsets, (r.cells[e] for r in rows), strict=True):
                if cell.significant:
                    axis.text(
                        (cell.ci95[1] if cell.ci95 else cell.value) + 0.01, y, "†", va="center", fontsize=9
                    )
        axis.set_yticks(positions)
        axis.set_yticklabels([r.label + row_marks(r) + _metric_note(r.metric) for r in rows], fontsize=8)
        for position, row in zip(positions, rows, strict=True):
            if row.is_average:
                axis.axhspan(position - 0.5, position + 0.5, color="0.93", zorder=0)
        edges = [v for r in rows for c in r.cells for v in (c.ci95 or [c.value]) if v is not None]
        axis.set_xlim(min([0.0, *edges]), max([1.05, *(e + 0.05 for e in edges)]))
        axis.set_xlabel(
            "score; whiskers: 95% bootstrap interval over test clips (none: no per-clip data); "
            "†: significantly best",
            fontsize=8,
        )
        axis.set_title(PROBE_TITLES[probe], fontsize=10, loc="left")
        axis.grid(axis="x", alpha=0.3)
        axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.suptitle(f"X-ARES scores — protocol {', '.join(sorted(set(board.protocols)))}", fontsize=11)
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    return figure


def confusion_figure(task: dict[str, Any], encoder: str) -> Any | None:
    """Row-normalised confusion matrices (MLP and kNN side by side) of a classification task."""
    matrices = [
        (probe, task["per_class"][probe])
        for probe in ("mlp", "knn")
        if "confusion" in task.get("per_class", {}).get(probe, {})
    ]
    if not matrices:
        return None
    plt = _pyplot()
    size = len(matrices[0][1]["confusion"])
    side = min(9.0, max(3.2, 0.38 * size + 1.8))
    figure, axes = plt.subplots(1, len(matrices), figsize=(side * len(matrices), side), squeeze=False)
    for axis, (probe, per_class) in zip(axes[0], matrices, strict=True):
        counts = np.asarray(per_class["confusion"], dtype=np.float64)
        rows = counts.sum(1, keepdims=True)
        normalised = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
        axis.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
        names = [_short(n) for n in per_class["names"]]
        axis.set_xticks(range(size))
        axis.set_yticks(range(size))
        axis.set_xticklabels(names, rotation=90, fontsize=7)
        axis.set_yticklabels(names, fontsize=7)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        if size <= 15:
            for i, j in zip(*np.nonzero(counts), strict=True):
                colour = "white" if normalised[i, j] > 0.6 else "black"
                axis.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=6, color=colour)
        score = task["scores"].get(f"{probe}_score", {}).get("value")
        axis.set_title(f"{PROBE_TITLES[probe]}" + (f": {score:.3f}" if score is not None else ""), fontsize=9)
    seed = matrices[0][1].get("seed_of_confusion")
    figure.suptitle(
        f"{task_label(task)} — {encoder} (confusion of seed {seed}; scores: mean over seeds)", fontsize=10
    )
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    return figure


def per_class_figure(task: dict[str, Any], encoder: str) -> Any | None:
    """Per-class scores of the MLP head: F1 (frame tasks), AP (multi-label) or recall (classifiers)."""
    per_class = task.get("per_class", {}).get("mlp")
    if not per_class:
        return None
    key = next((k for k in ("f1", "ap", "recall") if k in per_class), None)
    if key is None:
        return None
    plt = _pyplot()
    names = [_short(n) for n in per_class["names"]]
    values = [np.nan if v is None else v for v in per_class[key]]
    figure, axis = plt.subplots(figsize=(7.0, max(2.0, 0.25 * len(names) + 1.0)))
    positions = np.arange(len(names))[::-1]
    axis.barh(positions, values, color="tab:blue")
    axis.set_yticks(positions)
    axis.set_yticklabels(names, fontsize=7)
    axis.set_xlim(0, 1.0)
    label = {"f1": "segment F1", "ap": "average precision", "recall": "recall (per-class accuracy)"}[key]
    axis.set_xlabel(label)
    axis.set_title(f"{task_label(task)} — {encoder}: per-class {label}", fontsize=9, loc="left")
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def _short(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "x"


def write_plots(
    documents: Sequence[dict[str, Any]], out_dir: str | Path, *, resamples: int = stats.DEFAULT_RESAMPLES
) -> list[Path]:
    """scores.png for all documents, and per encoder and task a confusion or per-class PNG."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "scores.png"]
    written[0].write_bytes(png_bytes(scores_figure(build_leaderboard(documents, resamples=resamples))))
    for label, doc in zip(encoder_labels(documents), documents, strict=True):
        for task in doc["tasks"]:
            for kind, make in (("confusion", confusion_figure), ("per_class", per_class_figure)):
                figure = make(task, label)
                if figure is None:
                    continue
                path = out / f"{slug(label)}__{slug(task['name'])}__{kind}.png"
                path.write_bytes(png_bytes(figure))
                written.append(path)
    return written


def _metric_note(metric: str | None) -> str:
    if not metric:
        return ""
    return f" ({metric}, lower is better)" if metric in LOWER_IS_BETTER else f" ({metric})"
