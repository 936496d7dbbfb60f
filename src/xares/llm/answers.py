"""Each task's prompt and answer text, as data: one JSON file per task in xares/llm/answers/ (or a
folder the user names), so a task joins the LLM track without code.

A file holds: task (the X-ARES task name), prompt (the instruction placed after the audio), key (the
JSON field(s) of a clip's metadata holding its answer; "a;b" takes the first present, as upstream's
`key: label;labels`), metric (Accuracy | mAP | iWER | iCER | FENSE ...), prob (its sampling weight in
the training mixture), train / test (the splits or folds the model learns from and is scored on), and
counterpart (the XARES-LLM dataset it stands in for). metric_args: e.g. {"num_classes": 8} for mAP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from xares.errors import LabelError, TaskConfigError

REQUIRED = ("task", "prompt", "key", "metric", "prob", "train", "test")


@dataclass(frozen=True)
class TaskAnswers:
    """How one task is asked and answered in the LLM track."""

    task: str
    prompt: str
    key: str
    metric: str
    prob: float
    train: tuple[Any, ...]
    test: tuple[Any, ...]
    counterpart: str | None = None
    metric_args: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the file it was read from, for error messages

    def texts(self, meta: Any, *, where: str) -> list[str]:
        """The answer text(s) of one clip: the first key present; a list value gives one text per item
        (several captions), a number its decimal text (num_speakers 2 -> "2")."""
        if not isinstance(meta, dict):
            raise LabelError(
                f"{where}: the LLM track reads the answer from JSON field(s) {self.key!r}, but the clip's "
                f"metadata is a {type(meta).__name__}; set 'key' in {self.source or 'the answers file'}."
            )
        for name in self.key.split(";"):
            value = meta.get(name)
            if value is None or value == "" or value == []:
                continue
            if isinstance(value, bool):
                return [str(value).lower()]
            if isinstance(value, (int, float, str)):
                return [str(value)]
            if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
                return [str(v) for v in value]
        raise LabelError(
            f"{where}: none of the JSON fields {self.key!r} holds an answer text (fields present: "
            f"{sorted(meta)}). Fix 'key' in {self.source or 'the answers file'}."
        )


def parse_answers(payload: Any, source: str) -> TaskAnswers:
    """A TaskAnswers from one file's JSON; a missing or mistyped field names the file and the fix."""
    if not isinstance(payload, dict):
        raise TaskConfigError(
            f"{source}: an answers file holds one JSON object, got {type(payload).__name__}"
        )
    missing = [name for name in REQUIRED if name not in payload]
    if missing:
        raise TaskConfigError(
            f"{source}: missing field(s) {missing}; every answers file sets {list(REQUIRED)}"
        )
    for name in ("train", "test"):
        if not isinstance(payload[name], list) or not payload[name]:
            raise TaskConfigError(f"{source}: '{name}' must be a non-empty list of splits or folds")
    if not isinstance(payload["prob"], (int, float)) or payload["prob"] <= 0:
        raise TaskConfigError(f"{source}: 'prob' must be a positive number, got {payload['prob']!r}")
    for name in ("task", "prompt", "key", "metric"):
        if not isinstance(payload[name], str) or not payload[name]:
            raise TaskConfigError(f"{source}: '{name}' must be a non-empty string")
    known = {*REQUIRED, "counterpart", "metric_args"}
    unknown = sorted(set(payload) - known)
    if unknown:
        raise TaskConfigError(f"{source}: unknown field(s) {unknown}; the fields are {sorted(known)}")
    return TaskAnswers(
        task=payload["task"],
        prompt=payload["prompt"],
        key=payload["key"],
        metric=payload["metric"],
        prob=float(payload["prob"]),
        train=tuple(payload["train"]),
        test=tuple(payload["test"]),
        counterpart=payload.get("counterpart"),
        metric_args=dict(payload.get("metric_args") or {}),
        source=source,
    )


def load_answers(task_name: str, folder: str | Path | None = None) -> TaskAnswers | None:
    """The answers of `task_name` from `folder` (a user's), else from the shipped ones; None when
    neither has a file for it (the task is then not part of the LLM track, and the run says so)."""
    if folder is not None:
        own = Path(folder) / f"{task_name}.json"
        if own.is_file():
            return _read(own.read_text(encoding="utf-8"), str(own), task_name)
    shipped = resources.files("xares.llm").joinpath("answers", f"{task_name}.json")
    if shipped.is_file():
        return _read(shipped.read_text(encoding="utf-8"), f"xares/llm/answers/{task_name}.json", task_name)
    return None


def _read(text: str, source: str, task_name: str) -> TaskAnswers:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaskConfigError(f"{source}: not valid JSON ({exc})") from exc
    answers = parse_answers(payload, source)
    if answers.task != task_name:
        raise TaskConfigError(f"{source}: its 'task' is {answers.task!r}, but the file is for {task_name!r}")
    return answers
