"""Helpers for task files: class lists kept as data, and label readers with clear errors.

Long class lists live next to the task file, in `labels/<task name>.txt`, one class per line, in
the index order of the published X-ARES task (line 1 is class 0). They are UTF-8 and copied
verbatim: no comments, no blank lines, no surrounding whitespace, no duplicates (a malformed file is
refused when it is read).

Every reader raises `xares.errors.LabelError` for a sample it cannot use, naming the JSON field, the
offending value and the valid classes; the error also carries them as attributes (`field`, `value`,
`valid`) for programs. Task files wrap these readers in module-level functions, so label processors
stay picklable and their source (part of the score cache key) shows the field they read.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Hashable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from xares.errors import LabelError, TaskConfigError

_SHOWN_IN_FULL = 50  # longer class lists are abbreviated in error messages


@cache
def _read_labels(labels_dir: Path, name: str) -> tuple[str, ...]:
    path = labels_dir / f"{name}.txt"
    if not path.is_file():
        known = sorted(p.stem for p in labels_dir.glob("*.txt"))
        raise TaskConfigError(f"no class list {path}; class lists that exist: {known}.")
    classes = tuple(path.read_text(encoding="utf-8").splitlines())
    for line_number, label in enumerate(classes, start=1):
        if not label or label != label.strip():
            raise TaskConfigError(
                f"{path}, line {line_number}: {label!r} is empty or has surrounding whitespace; "
                "a class list holds one class name per line, verbatim."
            )
    duplicates = sorted({label for label in classes if classes.count(label) > 1})
    if duplicates:
        raise TaskConfigError(f"{path}: classes listed more than once: {duplicates}.")
    return classes


def load_labels(name: str, task_file: str | Path) -> list[str]:
    """The class list `labels/<name>.txt` beside `task_file` (pass `__file__`); index i is line i + 1."""
    return list(_read_labels(Path(task_file).resolve().parent / "labels", name))


def index_of(classes: Sequence[Hashable]) -> dict[Any, int]:
    """Class -> index, in list order."""
    return {label: index for index, label in enumerate(classes)}


def _describe(valid: Sequence[Any]) -> str:
    if len(valid) <= _SHOWN_IN_FULL:
        return repr(list(valid))
    head = ", ".join(repr(v) for v in valid[:10])
    tail = ", ".join(repr(v) for v in valid[-3:])
    return f"[{head}, ..., {tail}] ({len(valid)} classes)"


def label_error(
    message: str, *, field: str | None = None, value: Any = None, valid: Sequence[Any] | None = None
) -> LabelError:
    """A LabelError carrying the JSON field, the offending value and the valid classes."""
    error = LabelError(message)
    error.field = field
    error.value = value
    error.valid = list(valid) if valid is not None else None
    return error


def field_of(meta: Any, key: str) -> Any:
    """meta[key], or a LabelError that names the key and the fields the sample does have."""
    if not isinstance(meta, Mapping):
        raise label_error(
            f"expected the sample's JSON to be an object with field {key!r}, got {type(meta).__name__} "
            f"{meta!r}.",
            field=key,
            value=meta,
        )
    if key not in meta:
        raise label_error(
            f"the sample's JSON has no field {key!r}; its fields are {sorted(meta)}.", field=key
        )
    return meta[key]


def lookup(value: Any, index: Mapping[Any, int], *, field: str) -> int:
    """The class index of `value`, or a LabelError naming it and the valid classes.

    Booleans are refused even where the classes are integers (True would otherwise equal 1).
    """
    try:
        found = None if isinstance(value, bool) else index.get(value)
    except TypeError:  # unhashable, e.g. a list where a string was expected
        found = None
    if found is None:
        raise label_error(
            f"{field}={value!r} is not one of the task's classes; valid classes: {_describe(list(index))}.",
            field=field,
            value=value,
            valid=list(index),
        )
    return found


def class_index(meta: Any, key: str, index: Mapping[Any, int]) -> int:
    """Single-label classification: the index of the class named by meta[key]."""
    return lookup(field_of(meta, key), index, field=key)


def multi_hot(meta: Any, key: str, index: Mapping[Any, int], *, separator: str = ";") -> list[float]:
    """Multi-label classification: a multi-hot vector of length len(index) from 'a;b;c'."""
    target = [0.0] * len(index)
    for name in _split(field_of(meta, key), separator, field=key, index=index):
        target[lookup(name, index, field=key)] = 1.0
    return target


def _split(value: Any, separator: str, *, field: str, index: Mapping[Any, int]) -> list[str]:
    """The class names of a separated string such as 'a;b;c'."""
    if not isinstance(value, str):
        raise label_error(
            f"{field}={value!r} should be a {separator!r}-separated string of class names.",
            field=field,
            value=value,
            valid=list(index),
        )
    return value.split(separator)


def number(value: Any, *, field: str) -> float:
    """A finite float from a JSON number or numeric string (booleans refused)."""
    result: float | None = None
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):  # a string that is not a number
            result = float(value)
    if result is None or not math.isfinite(result):
        raise label_error(f"{field}={value!r} is not a finite number.", field=field, value=value)
    return result


def events(
    meta: Any,
    *,
    start_key: str,
    end_key: str,
    class_key: str,
    index: Mapping[Any, int],
    separator: str | None = None,
) -> list[tuple[float, float, int]]:
    """Frame tasks: a JSON list of timed events -> [(start_s, end_s, class index), ...] in JSON order.

    Labels stay in seconds here because frames depend on the encoder's hop, which the frame probe
    knows and the label processor does not. With `separator`, one event may name several classes
    ('Dog,Speech') and gives one tuple per class. An empty list (a clip without events) is valid.
    """
    if not isinstance(meta, list):
        raise label_error(
            f"expected the sample's JSON to be a list of events with fields {start_key!r}, {end_key!r} "
            f"and {class_key!r}, got {type(meta).__name__} {meta!r}.",
            value=meta,
        )
    result = []
    for event in meta:
        start = number(field_of(event, start_key), field=start_key)
        end = number(field_of(event, end_key), field=end_key)
        if start < 0 or end < start:
            raise label_error(
                f"event {event!r} has {start_key}={start} and {end_key}={end}; "
                f"expected 0 <= {start_key} <= {end_key} (seconds).",
                field=start_key,
                value=event,
            )
        value = field_of(event, class_key)
        names = [value] if separator is None else _split(value, separator, field=class_key, index=index)
        result.extend((start, end, lookup(name, index, field=class_key)) for name in names)
    return result
