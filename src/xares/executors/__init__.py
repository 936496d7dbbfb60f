"""Executors: how (task, encoder) units run. xares.scheduler.make_executor picks one.

- local (local.py): here, or in a pool of spawned worker processes, GPUs round-robin;
- slurm (slurm.py): one Slurm job per unit through submitit, resubmitted when it dies;
- ray (ray_executor.py): one Ray task per unit, on an existing cluster or a local one.
"""

from xares.executors.base import (
    EXECUTORS,
    Executor,
    ExecutorError,
    ExecutorOptions,
    RayOptions,
    SlurmOptions,
    parse_key_value,
)

__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorError",
    "ExecutorOptions",
    "RayOptions",
    "SlurmOptions",
    "parse_key_value",
]
