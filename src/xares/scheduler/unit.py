"""A unit of work, one task file through its stages for one encoder, and run_unit, which runs it here.

Every executor (local.py, slurm.py, ray_executor.py) ends in run_unit, in this process, a worker or a
job. A failing task never stops the others: its exception becomes a TaskResult with status "failed" and a
message naming the task, the file and the sample where the error says so.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from xares.encoder import EncoderInfo, load_encoder
from xares.errors import XaresError
from xares.task import RunOptions, TaskConfig, TaskResult, XaresTask, load_task_config

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
    encoder_info: EncoderInfo | None = None  # fingerprinted once per run by the driver
    # objects instead of files, for a run in this process only (xares.api.evaluate refuses otherwise)
    config: TaskConfig | None = field(default=None, compare=False)
    encoder: torch.nn.Module | None = field(default=None, compare=False)


def unit_encoder(spec: str | None) -> torch.nn.Module | None:
    """The encoder a spec names, loaded once per process (the planner and run_unit share it)."""
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
        encoder = unit.encoder if unit.encoder is not None else unit_encoder(unit.encoder_spec)
        if unit.config is not None:
            config = unit.config
            config.encoder = encoder if config.encoder is None else config.encoder
            config.env_root = unit.env_root or config.env_root
        else:
            config = load_task_config(unit.task_file, encoder, env_root=unit.env_root)
        name = config.name
        # the driver's fingerprint holds for the encoder it describes, not for one a task file builds
        info = unit.encoder_info if config.encoder is encoder else None
        task = XaresTask(config, options=unit.options, encoder_info=info)
        return task.run(from_stage=unit.from_stage, to_stage=unit.to_stage)
    except Exception as exc:
        logger.debug("traceback of task %s:\n%s", name, traceback.format_exc())
        result = task.result if task is not None else TaskResult(name=name, formal_name=name)
        result.status, result.error = "failed", f"{unit.task_file}: {describe_error(exc)}"
        result.timings["total"] = round(time.perf_counter() - started, 3)
        logger.error("task %s failed: %s", name, result.error)
        return result


def describe_error(exc: BaseException) -> str:
    """An exception as a one-line message: an XaresError's own text, anything else with its type."""
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, XaresError) else f"{type(exc).__name__}: {text}"
