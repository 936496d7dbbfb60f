"""How (task, encoder) units run: in this process, in worker processes, or as Slurm or Ray jobs.

run_unit runs one unit; make_executor is the one place that picks an executor (xares.executors).

A failing task never stops the others: its exception becomes a TaskResult with status "failed" and a
message naming the task, the file and the sample where the error says so.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from xares.encoder import load_encoder
from xares.errors import XaresError
from xares.executors.base import EXECUTORS, Executor, ExecutorError, ExecutorOptions
from xares.task import RunOptions, TaskResult, XaresTask, load_task_config

logger = logging.getLogger(__name__)

_ENCODER_CACHE: dict[str, torch.nn.Module] = {}


@dataclass(frozen=True)
class TaskUnit:
    task_file: str
    encoder_spec: str | None
    env_root: str | None  # None: each task's own env_root
    from_stage: int
    to_stage: int
    options: RunOptions


def _encoder(spec: str | None) -> torch.nn.Module | None:
    if spec is None:
        return None
    if spec not in _ENCODER_CACHE:
        _ENCODER_CACHE[spec] = load_encoder(spec)
    return _ENCODER_CACHE[spec]


def run_unit(unit: TaskUnit) -> TaskResult:
    """Run one task file through the requested stages; never raises for a task's own failure."""
    started = time.perf_counter()
    name = Path(unit.task_file).stem.removesuffix("_task")
    task: XaresTask | None = None
    try:
        config = load_task_config(unit.task_file, _encoder(unit.encoder_spec), env_root=unit.env_root)
        name = config.name
        task = XaresTask(config, options=unit.options)
        return task.run(from_stage=unit.from_stage, to_stage=unit.to_stage)
    except Exception as exc:
        logger.debug("traceback of task %s:\n%s", name, traceback.format_exc())
        result = task.result if task is not None else TaskResult(name=name, formal_name=name)
        result.status, result.error = "failed", f"{unit.task_file}: {_describe(exc)}"
        result.timings["total"] = round(time.perf_counter() - started, 3)
        logger.error("task %s failed: %s", name, result.error)
        return result


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, XaresError) else f"{type(exc).__name__}: {text}"


def make_executor(options: ExecutorOptions | None = None, *, max_jobs: int = 1) -> Executor:
    """The one place that decides how units run: options.kind is local, slurm or ray.

    A missing package or command is an ExecutorError that says what to install or where to run;
    nothing falls back to another executor.
    """
    options = options or ExecutorOptions()
    if options.kind == "local":
        from xares.executors.local import LocalExecutor

        return LocalExecutor(max_jobs)
    if options.kind == "slurm":
        from xares.executors.slurm import SlurmExecutor

        return SlurmExecutor(options)
    if options.kind == "ray":
        from xares.executors.ray_executor import RayExecutor

        return RayExecutor(options)
    raise ExecutorError(f"unknown executor {options.kind!r}; choose one of {', '.join(EXECUTORS)}.")


def run_units(
    units: list[TaskUnit],
    *,
    max_jobs: int = 1,
    on_result: Callable[[TaskResult], None] | None = None,
    executor: ExecutorOptions | None = None,
) -> list[TaskResult]:
    """Run every unit with the chosen executor (default: local; max_jobs <= 1 runs them here, one after
    another, else in spawned workers) and return one TaskResult per unit."""
    return make_executor(executor, max_jobs=max_jobs).run(units, on_result)
