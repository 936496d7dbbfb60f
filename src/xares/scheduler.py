"""How (task, encoder) units run: in this process, or spread over worker processes.

A failing task never stops the others: its exception becomes a TaskResult with status "failed" and a
message naming the task, the file and the sample where the error says so.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import torch

from xares.encoder import load_encoder
from xares.errors import XaresError
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


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.WARNING)


def run_units(
    units: list[TaskUnit], *, max_jobs: int, on_result: Callable[[TaskResult], None] | None = None
) -> list[TaskResult]:
    """Run every unit; max_jobs <= 1 runs them here, one after another, else in spawned workers."""
    results: list[TaskResult] = []
    if max_jobs <= 1 or len(units) == 1:
        for unit in units:
            results.append(run_unit(unit))
            if on_result:
                on_result(results[-1])
        return results
    workers = min(max_jobs, len(units))
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=(threads,)
    ) as pool:
        futures = {pool.submit(run_unit, unit): unit for unit in units}
        for future in as_completed(futures):
            unit = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the worker process itself died
                name = Path(unit.task_file).stem
                result = TaskResult(
                    name=name,
                    formal_name=name,
                    status="failed",
                    error=f"worker process failed: {_describe(exc)}",
                )
            results.append(result)
            if on_result:
                on_result(result)
    return results
