"""Progress of long steps (clips encoded, epochs trained), shown the way the running task chose: "bar"
(a rich bar on a terminal), "lines" (a plain line now and then, for logs and pipes), or "off" (--quiet).

On the ground floor so that every stage may show progress without knowing about the report.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console

# Set per task by XaresTask, read by the encode and probe stages.
_PROGRESS_MODE: contextvars.ContextVar[str] = contextvars.ContextVar("xares_progress", default="off")
LINE_INTERVAL_S = 10.0
Total = int | Callable[[], int | None] | None  # a count, or a function that counts


@contextlib.contextmanager
def progress_mode(mode: str) -> Iterator[None]:
    if mode not in ("bar", "lines", "off"):
        raise ValueError(f"progress mode must be bar, lines or off, got {mode!r}")
    token = _PROGRESS_MODE.set(mode)
    try:
        yield
    finally:
        _PROGRESS_MODE.reset(token)


class StepProgress:
    """Counts of one long step (clips encoded, epochs trained) with rate and ETA."""

    def __init__(self, label: str, total: Total, unit: str, mode: str) -> None:
        if callable(total):  # counting may cost a pass over the data: only when something is shown
            total = total() if mode != "off" else None
        self.label, self.total, self.unit, self.mode = label, total, unit, mode
        self._closed = False
        self.done = 0
        self.started = self._last_line = time.monotonic()
        self._bar: Any = None
        if mode == "bar":
            self._bar = _rich_progress(unit)
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.advance(self._task, count)
        elif self.mode == "lines" and time.monotonic() - self._last_line >= LINE_INTERVAL_S:
            self._last_line = time.monotonic()
            self._print(self._status())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.stop()
        elif self.mode == "lines":
            elapsed = time.monotonic() - self.started
            rate = f", {self.done / elapsed:.1f} {self.unit}/s" if elapsed > 0 else ""
            self._print(f"{self.label}: {self.done} {self.unit} in {elapsed:.1f} s{rate}")

    def _status(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        text = f"{self.label}: {self.done}" + (f"/{self.total}" if self.total else "") + f" {self.unit}"
        text += f", {rate:.1f} {self.unit}/s"
        if self.total and rate > 0:
            text += f", ETA {(self.total - self.done) / rate:.0f} s"
        return text

    @staticmethod
    def _print(text: str) -> None:
        print(text, file=sys.stderr, flush=True)


def _rich_progress(unit: str) -> Any:
    from rich import progress as rich_progress
    from rich.text import Text

    class RateColumn(rich_progress.ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.1f} {unit}/s" if speed else "", style="progress.data.speed")

    return rich_progress.Progress(
        rich_progress.TextColumn("{task.description}"),
        rich_progress.BarColumn(),
        rich_progress.MofNCompleteColumn(),
        rich_progress.TextColumn(unit),
        RateColumn(),
        rich_progress.TimeElapsedColumn(),
        rich_progress.TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def start_progress(label: str, total: Total, unit: str) -> StepProgress:
    """A progress display for one step, in the mode the running task chose; call close() when done.

    `total` may be a function that counts, called only when progress is shown."""
    return StepProgress(label, total, unit, _PROGRESS_MODE.get())


def progress(label: str, total: Total, unit: str) -> contextlib.closing[StepProgress]:
    """start_progress as a context manager."""
    return contextlib.closing(start_progress(label, total, unit))
