"""A self-contained HTML report of one or more results files: inline CSS, plots as base64 PNG, no
script and no link outside the file, so it opens offline and can be mailed or archived as one file."""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Sequence
from typing import Any

from xares import stats
from xares.protocols import PROTOCOLS
from xares.report import llm as llm_view
from xares.report.compare import COLUMNS, compare_files, comparison_cells, sections
from xares.report.leaderboard import (
    LEGEND,
    SECTION_TITLES,
    Cell,
    Leaderboard,
    build_leaderboard,
    encoder_labels,
    row_marks,
    task_label,
)
from xares.report.plots import confusion_figure, per_class_figure, png_bytes, scores_figure

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 72em; color: #1a1a1a; background: #fff; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; border-bottom: 3px solid #2b6cb0; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 2em; color: #2b6cb0; }
h3 { font-size: 1.05em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #d0d7de; padding: .3em .6em; text-align: right; vertical-align: top; }
th { background: #eef3f8; }
td:first-child, th:first-child { text-align: left; }
tr.average td { background: #f6f8fa; font-weight: 600; }
.best { font-weight: 700; }
.ci, .std { color: #57606a; font-size: .85em; }
.sig { color: #b7791f; font-weight: 700; }
.note { color: #57606a; font-size: .88em; }
.failed { color: #c53030; }
img { max-width: 100%; border: 1px solid #e1e4e8; margin: .5em 0; }
code { background: #f6f8fa; padding: 0 .25em; }
details { margin: .4em 0 .8em 0; }
summary { cursor: pointer; font-weight: 600; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _cell(cell: Cell) -> str:
    if cell.value is None:
        return "<td>-</td>"
    value = f'<span class="{"best" if cell.best else ""}">{cell.value:.3f}</span>'
    if cell.significant:
        value += '<span class="sig">†</span>'
    if cell.std is not None:
        value += f' <span class="std">± {cell.std:.3f}</span>'
    if cell.ci95 is not None:
        value += f' <span class="ci">[{cell.ci95[0]:.3f}, {cell.ci95[1]:.3f}]</span>'
    return f"<td>{value}</td>"


def leaderboard_html(board: Leaderboard) -> str:
    parts = []
    for probe, rows in board.sections.items():
        parts.append(f"<h3>{SECTION_TITLES[probe]}</h3><table><tr><th>Task</th>")
        parts.append("".join(f"<th>{_e(name)}</th>" for name in board.encoders) + "</tr>")
        for row in rows:
            label = _e(row.label + row_marks(row))
            metric = f' <span class="note">({_e(row.metric)})</span>' if row.metric else ""
            css = ' class="average"' if row.is_average else ""
            parts.append(
                f"<tr{css}><td>{label}{metric}</td>" + "".join(_cell(c) for c in row.cells) + "</tr>"
            )
        parts.append("</table>")
    parts.append(f'<p class="note">{_e(LEGEND)}</p>')
    return "\n".join(parts)


def encoders_html(documents: Sequence[dict[str, Any]]) -> str:
    head = (
        "<table><tr><th>Encoder</th><th>Fingerprint</th><th>Parameters</th><th>Dim</th><th>Hop (ms)</th>"
        "<th>Rate (Hz)</th><th>Encode speed (× real time)</th><th>Device</th><th>Peak memory (MB)</th>"
        "<th>Protocol</th><th>Seeds</th><th>Created</th></tr>"
    )
    rows = []
    for label, doc in zip(encoder_labels(documents), documents, strict=True):
        enc, run = doc["encoder"], doc["run"]
        eff = enc.get("efficiency") or {}
        speed = eff.get("real_time_factor")
        rows.append(
            "<tr>"
            f"<td>{_e(label)}</td><td><code>{_e(enc['fingerprint'][:16])}</code></td>"
            f"<td>{enc.get('num_parameters', 0):,}</td><td>{_e(enc.get('output_dim'))}</td>"
            f"<td>{_e(enc.get('hop_size_in_ms'))}</td><td>{_e(enc.get('sampling_rate'))}</td>"
            f"<td>{'-' if speed is None else f'{speed:g}'}</td>"
            f"<td>{_e(', '.join(eff.get('devices', [])))}</td>"
            f"<td>{_e(eff.get('peak_memory_mb') or '-')}</td><td>{_e(run.get('protocol'))}</td>"
            f"<td>{_e(run.get('seeds', 1))}</td><td>{_e(doc.get('created', ''))}</td>"
            "</tr>"
        )
    note = next(
        (d["encoder"].get("efficiency", {}).get("note") for d in documents if d["encoder"].get("efficiency")),
        "",
    )
    return head + "".join(rows) + "</table>" + (f'<p class="note">{_e(note)}</p>' if note else "")


def comparison_html(documents: Sequence[dict[str, Any]], resamples: int) -> str:
    rows, labels, notes = compare_files(documents[:2], resamples=resamples)
    parts = [f"<p>{_e(labels[0])} (A) against {_e(labels[1])} (B), paired over the test clips both hold.</p>"]
    for title, selected in sections(rows):
        parts.append(f"<h3>{title}</h3><table><tr><th>Task</th>")
        parts.append("".join(f"<th>{_e(c or 'significant')}</th>" for c in COLUMNS) + "</tr>")
        for row in selected:
            cells = comparison_cells(row, labels)
            css = ' class="average"' if row.name.startswith("average_") else ""
            mark = f'<span class="sig">{_e(cells[5])}</span>' if row.significant else _e(cells[5])
            parts.append(
                f"<tr{css}><td>{_e(row.label)}</td>"
                + "".join(f"<td>{_e(c)}</td>" for c in cells[:5])
                + f"<td>{mark}</td></tr>"
            )
        parts.append("</table>")
    parts += [f'<p class="note">Note: {_e(n)}.</p>' for n in notes]
    return "\n".join(parts)


def llm_html(documents: Sequence[dict[str, Any]], labels: Sequence[str]) -> str:
    """Each document's LLM-track block (generated-text scores), '' when none has one."""
    parts = []
    for label, document in zip(labels, documents, strict=True):
        block = llm_view.llm_block(document)
        if block is None:
            continue
        parts.append(f'<h3>{_e(label)}</h3><p class="note">{_e(llm_view.caption(block))}</p><table><tr>')
        parts.append("".join(f"<th>{_e(name)}</th>" for name in llm_view.HEADER) + "</tr>")
        rows = llm_view.rows(block)
        for number, row in enumerate(rows, start=1):
            css = ' class="average"' if number == len(rows) else ""  # rows() ends with the overall score
            parts.append(f"<tr{css}>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>")
        parts.append("</table>")
    return "\n".join(parts)


def _per_class_table(per_class: dict[str, Any], probe: str) -> str:
    keys = [k for k in ("recall", "precision", "f1", "ap") if k in per_class]
    head = "<tr><th>Class</th><th>Support</th>" + "".join(f"<th>{_e(k)}</th>" for k in keys) + "</tr>"
    rows = []
    names = per_class["names"]
    for i, name in enumerate(names):
        values = "".join(
            f"<td>{'-' if per_class[k][i] is None else f'{per_class[k][i]:.3f}'}</td>" for k in keys
        )
        rows.append(f"<tr><td>{_e(name)}</td><td>{_e(per_class['support'][i])}</td>{values}</tr>")
    confusions = ", ".join(
        f"{_e(names[c['true']])} → {_e(names[c['predicted']])} ({c['count']})"
        for c in per_class.get("top_confusions") or []
    )
    extra = f"<p class='note'>Most frequent confusions: {confusions}</p>" if confusions else ""
    table = f"<table>{head}{''.join(rows)}</table>"
    return f"<details><summary>per-class scores ({probe})</summary>{table}{extra}</details>"


def task_details_html(task: dict[str, Any], encoder: str, with_plots: bool) -> str:
    parts = [f"<h3>{_e(task_label(task))} — {_e(encoder)}</h3>"]
    if task["status"] != "ok":
        return parts[0] + f'<p class="failed">{_e(task["status"])}: {_e(task.get("error") or "")}</p>'
    facts = [
        f"metric {task['metric']}",
        f"{task.get('num_test_clips')} test clips",
        f"eval_weight {task['eval_weight']}",
        f"seeds {task.get('seeds')}",
        f"protocol {task.get('protocol', '')}",
        f"model selection: {task.get('selection') or '-'}"
        + (" (saw test data)" if task.get("selection_on_test") else ""),
        *(f"not the published protocol: {d}" for d in task.get("deviations") or []),
    ]
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in (task.get("timings") or {}).items())
    parts.append(f'<p class="note">{_e("; ".join(facts))}; time: {_e(timings)}</p>')
    scores = task.get("scores") or {}
    if scores:
        parts.append(
            "<table><tr><th>Score</th><th>Value</th><th>Std over seeds</th><th>95% interval</th></tr>"
        )
        for name, score in scores.items():
            interval, std = score.get("ci95"), score.get("std")
            std_text = "-" if std is None else f"{std:.4f}"
            interval_text = "-" if not interval else f"[{interval[0]:.4f}, {interval[1]:.4f}]"
            parts.append(
                f"<tr><td>{_e(name)}</td><td>{score['value']:.4f}</td><td>{std_text}</td>"
                f"<td>{interval_text}</td></tr>"
            )
        parts.append("</table>")
    for probe, per_class in (task.get("per_class") or {}).items():
        parts.append(_per_class_table(per_class, probe))
    if with_plots:
        for make in (confusion_figure, per_class_figure):
            figure = make(task, encoder)
            if figure is not None:
                parts.append(_image(png_bytes(figure), f"{make.__name__} {task['name']} {encoder}"))
    return "\n".join(parts)


def html_report(
    documents: Sequence[dict[str, Any]], *, resamples: int = stats.DEFAULT_RESAMPLES, plots: bool = True
) -> str:
    """The whole report as one HTML string."""
    board = build_leaderboard(documents, resamples=resamples)
    labels = encoder_labels(documents)
    protocols = sorted(set(board.protocols))
    body = [
        f"<h1>X-ARES report: {_e(', '.join(labels))}</h1>",
        f'<p class="note">Rendered {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC from '
        f"{len(documents)} results file(s).</p>",
        "<h2>Protocol</h2><ul>"
        + "".join(f"<li><b>{_e(p)}</b>: {_e(PROTOCOLS.get(p, 'unknown'))}</li>" for p in protocols)
        + "</ul>",
        "<h2>Encoders</h2>",
        encoders_html(documents),
        "<h2>Leaderboard</h2>",
        leaderboard_html(board),
    ]
    llm_section = llm_html(documents, labels)
    if llm_section:
        body += ["<h2>LLM track (generated text)</h2>", llm_section]
    if plots and board.sections:  # a file of the LLM track alone has no probe scores to draw
        body += ["<h2>Scores</h2>", _image(png_bytes(scores_figure(board)), "scores of every task")]
    if len(documents) >= 2:
        body += ["<h2>Paired comparison</h2>", comparison_html(documents, resamples)]
    body.append("<h2>Tasks in detail</h2>")
    for label, doc in zip(labels, documents, strict=True):
        for task in doc["tasks"]:
            body.append(task_details_html(task, label, plots))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>X-ARES report: {_e(', '.join(labels))}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
