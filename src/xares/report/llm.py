"""The LLM track's block of results.json as a terminal table and as markdown (see xares.llm.results
for the block's fields): per task the generated-text metric, its score with the 95% interval, the
chance control, and the overall score, with the LM and configuration that produced them."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from xares.llm.results import LLM_KEY
from xares.report.leaderboard import format_score


def _interval(ci95: list[float] | None) -> str:
    return "" if not ci95 else f"[{ci95[0]:.3f}, {ci95[1]:.3f}]"


def caption(block: dict[str, Any]) -> str:
    """Which protocol, configuration and LM: a score means nothing without them."""
    lm = block["llm"]
    stand_in = "" if lm.get("is_published_llm") else f" (stand-in for {lm.get('published_llm')})"
    return (
        f"{block['protocol']} {block['protocol_version']}, {block['configuration']} configuration, "
        f"{block['steps']} steps, seed {block['seed']}; LM: {lm['name']}{stand_in}, {lm['source']} "
        f"{lm['revision'][:40]}"
    )


def rows(block: dict[str, Any]) -> list[list[str]]:
    """One row per task (name, metric, score, ci95, chance, status) and the overall row."""
    out = []
    for task in block["tasks"]:
        status = "ok" if task["status"] == "ok" else f"missing: {task.get('reason', '')}"
        out.append(
            [
                task["name"],
                task["metric"],
                format_score(task.get("score")),
                _interval(task.get("ci95")),
                format_score(task.get("chance")),
                status,
            ]
        )
    total = block["overall"]
    out.append(["Overall (mean)", "", format_score(total["score"]), "", "", f"{len(total['tasks'])} tasks"])
    return out


HEADER = ["Task", "Metric", "LLM score", "95% CI", "Chance", "Status"]


def llm_table(block: dict[str, Any]) -> Table:
    table = Table(title="LLM track (generated text)", caption=caption(block))
    for name in HEADER:
        table.add_column(name, justify="right" if name in ("LLM score", "Chance") else "left")
    for row in rows(block):
        table.add_row(*row)
    return table


def llm_markdown(block: dict[str, Any]) -> str:
    lines = ["### LLM track (generated text)", "", caption(block), "", "| " + " | ".join(HEADER) + " |"]
    lines.append("|" + "|".join("---:" if h in ("LLM score", "Chance") else "---" for h in HEADER) + "|")
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows(block)]
    return "\n".join(lines) + "\n"


def llm_block(document: dict[str, Any]) -> dict[str, Any] | None:
    """The document's LLM block, or None when it has none."""
    return document.get(LLM_KEY)


def llm_sections_markdown(documents: list[dict[str, Any]]) -> str:
    """The markdown of every document's LLM block, after the MLP/kNN leaderboard; '' when none has one."""
    parts = []
    for document in documents:
        block = llm_block(document)
        if block is not None:
            name = document.get("encoder", {}).get("name", "?")
            parts.append(llm_markdown(block).replace("### LLM track", f"### {name}: LLM track", 1))
    return "\n" + "\n".join(parts) if parts else ""


def print_llm_blocks(documents: list[dict[str, Any]], console: Any) -> None:
    """The terminal tables of every document's LLM block (after the MLP/kNN table)."""
    for document in documents:
        block = llm_block(document)
        if block is not None:
            table = llm_table(block)
            table.title = f"{document.get('encoder', {}).get('name', '?')}: LLM track (generated text)"
            console.print(table)
