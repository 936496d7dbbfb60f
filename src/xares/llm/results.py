"""The LLM track's block of results.json ("llm"), beside the MLP and kNN scores of the same encoder.

    llm.protocol, protocol_version   "xares-llm" and the upstream version whose settings it follows
    llm.configuration                "published" (the published steps) or "offline" (shortened; see
                                     xares.llm.protocol.OFFLINE_CHANGES)
    llm.settings                     every setting that ran (LoRA, steps, batch, schedule, seed ...)
    llm.llm                          the LM that ran: name, source, revision, whether it is the
                                     published one, size; published_llm: the one the protocol names
    llm.training                     steps, seconds, steps per second, logged losses
    llm.tasks                        per task: metric, score, ci95, chance, status (ok | missing),
                                     reason, per_clip (xares.stats' TestClips), generated texts
    llm.overall                      plain mean over the scored tasks (as published), which tasks
    llm.skipped                      tasks given to the command that are not part of the track, and why

xares.llm.run.attach_llm_block writes it into an existing results.json of the same encoder
(atomically), or into a new document without MLP/kNN tasks when there is none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xares.errors import ArtifactError

LLM_KEY = "llm"


def overall(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """The published overall score: the plain mean of the task scores (every task weight 1)."""
    scored = [t for t in tasks if t.get("status") == "ok" and t.get("score") is not None]
    return {
        "score": float(np.mean([t["score"] for t in scored])) if scored else None,
        "weighting": "plain mean over tasks (XARES-LLM scores.tsv, every weight 1)",
        "tasks": [t["name"] for t in scored],
        "missing": [t["name"] for t in tasks if t.get("status") != "ok"],
    }


def validate_llm_block(block: Any, where: str = "results") -> None:
    """Check the shape of an llm block; the error names the first field that is wrong."""

    def fail(message: str) -> None:
        raise ArtifactError(f"{where}: llm block: {message}; the file is damaged or hand-edited.")

    if not isinstance(block, dict):
        fail("not a JSON object")
    for key in ("protocol", "protocol_version", "configuration", "settings", "llm", "tasks", "overall"):
        if key not in block:
            fail(f"lacks {key!r}")
    if block["configuration"] not in ("published", "offline"):
        fail(f"configuration {block['configuration']!r} is neither 'published' nor 'offline'")
    for index, task in enumerate(block["tasks"]):
        if not isinstance(task, dict) or "name" not in task or task.get("status") not in ("ok", "missing"):
            fail(f"task #{index} needs a name and a status ok or missing")
        score, interval = task.get("score"), task.get("ci95")
        if score is not None and not isinstance(score, (int, float)):
            fail(f"task {task['name']!r}: score must be a number or null")
        if interval is not None and not (isinstance(interval, list) and len(interval) == 2):
            fail(f"task {task['name']!r}: ci95 must be null or [low, high]")
