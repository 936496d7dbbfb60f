"""The local executor: units one after another in this process, or in a pool of worker processes.

Workers load the encoder from its spec string (a file path), never from a pickled module, so an encoder
that cannot be pickled runs as well in a worker as here. When GPUs are visible each worker gets one,
round-robin, through CUDA_VISIBLE_DEVICES, set before the worker first touches CUDA.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch

from xares.scheduler.base import Executor
from xares.scheduler.unit import TaskUnit, describe_error, run_unit
from xares.task import TaskResult

logger = logging.getLogger(__name__)


def visible_gpus(environ: dict[str, str] | None = None) -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries (indices or UUIDs)."""
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        return [g.strip() for g in environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def gpu_of_worker(worker: int, gpus: list[str]) -> str | None:
    return gpus[worker % len(gpus)] if gpus else None


# What every worker needs before its first unit: torch, the encoder loader, the stages and probes.
WORKER_PRELOAD = ["xares.scheduler.local", "xares.scheduler.unit"]


def worker_context() -> multiprocessing.context.BaseContext:
    """Workers fork from a forkserver that imported torch and xares once (WORKER_PRELOAD), so N workers
    pay one start-up (1.5-3 s here), not N. Not fork from this process: fork after torch has started
    threads can deadlock, and the server has started none (nor CUDA: each worker picks its GPU after
    the fork). Spawn where there is no forkserver (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_PRELOAD)  # no effect once the server runs: it already has them
    return context


def _worker_init(threads: int, gpus: list[str], counter: Any) -> None:
    with counter.get_lock():
        worker = counter.value
        counter.value += 1
    gpu = gpu_of_worker(worker, gpus)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.WARNING)


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, max_jobs: int = 1) -> None:
        self.max_jobs = max_jobs

    def run(
        self, units: list[TaskUnit], on_result: Callable[[TaskResult], None] | None = None
    ) -> list[TaskResult]:
        """max_jobs <= 1 runs the units here, one after another, else in spawned workers."""
        results: list[TaskResult] = []
        if self.max_jobs <= 1 or len(units) == 1:
            for unit in units:
                results.append(run_unit(unit))
                if on_result:
                    on_result(results[-1])
            return results
        workers = min(self.max_jobs, len(units))
        threads = max(1, (os.cpu_count() or 1) // workers)
        # An explicit --device other than plain "cuda" names a device index; keep every GPU visible then.
        gpus = visible_gpus() if all(u.options.encode.device in (None, "cuda") for u in units) else []
        if gpus:
            logger.info("%d workers share GPUs %s, round-robin", workers, ", ".join(gpus))
        context = worker_context()
        counter = context.Value("i", 0)
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_init, initargs=(threads, gpus, counter)
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
                        error=f"worker process failed: {describe_error(exc)}",
                    )
                results.append(result)
                if on_result:
                    on_result(result)
        return results
