"""How (task, encoder) units run: here or in worker processes (local.py), or as Slurm or Ray jobs (slurm.py,
ray_executor.py, driven by base.py); every executor ends in unit.run_unit. make_executor picks one."""

from __future__ import annotations

from collections.abc import Callable

from xares.scheduler.base import (
    EXECUTORS,
    Executor,
    ExecutorError,
    ExecutorOptions,
    RayOptions,
    SlurmOptions,
    parse_key_value,
)
from xares.scheduler.local import LocalExecutor
from xares.scheduler.unit import TaskUnit, run_unit
from xares.task import TaskResult

__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorError",
    "ExecutorOptions",
    "RayOptions",
    "SlurmOptions",
    "TaskUnit",
    "make_executor",
    "parse_key_value",
    "run_unit",
    "run_units",
]


def make_executor(options: ExecutorOptions | None = None, *, max_jobs: int = 1) -> Executor:
    """The one place that decides how units run: options.kind is local, slurm or ray.

    A missing package or command is an ExecutorError that says what to install or where to run;
    nothing falls back to another executor.
    """
    options = options or ExecutorOptions()  # its kind is one of EXECUTORS: ExecutorOptions checks it
    if options.kind == "slurm":
        from xares.scheduler.slurm import SlurmExecutor  # submitit only when Slurm is asked for

        return SlurmExecutor(options)
    if options.kind == "ray":
        from xares.scheduler.ray_executor import RayExecutor  # ray takes 0.25 s to import

        return RayExecutor(options)
    return LocalExecutor(max_jobs)


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
