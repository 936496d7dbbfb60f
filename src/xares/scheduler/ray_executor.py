"""The Ray executor: one Ray task per unit (all of its stages), on an existing cluster or a local one.

`--ray-address ADDRESS` joins a running cluster (its nodes need the same Python environment and the
env root on a shared path); without it a Ray cluster is started on this machine for the run and shut
down after it. Ray's own task retries are off: the driver submits a task whose worker died again, up
to --max-attempts times, and says so, as the Slurm executor does.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable

from xares.scheduler.base import (
    ExecutorError,
    ExecutorOptions,
    JobCrashed,
    JobLost,
    Outcome,
    RemoteExecutor,
    run_job,
)
from xares.scheduler.unit import TaskUnit

logger = logging.getLogger(__name__)


try:
    import ray
except ImportError as exc:
    raise ExecutorError(
        "--executor ray needs the ray package, which is not installed: pip install 'xares[ray]' "
        "(or pip install ray)."
    ) from exc


class RayExecutor(RemoteExecutor):
    name = "ray"

    def __init__(self, options: ExecutorOptions) -> None:
        super().__init__(options)
        settings = options.ray
        self._started = False
        if not ray.is_initialized():
            try:
                if settings.address:
                    ray.init(address=settings.address, logging_level=logging.WARNING)
                else:
                    ray.init(include_dashboard=False, logging_level=logging.WARNING)
            except Exception as exc:
                where = (
                    f"the Ray cluster at {settings.address}" if settings.address else "a local Ray cluster"
                )
                raise ExecutorError(f"cannot start or join {where}: {type(exc).__name__}: {exc}") from exc
            self._started = True
        gpus = settings.gpus_per_task
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
            logger.info("Ray: %g GPU per task (the cluster has %s)", gpus, "GPUs" if gpus else "no GPU")
        self._cpus = max(1, int(settings.cpus_per_task))
        self._remote = ray.remote(run_job).options(
            num_cpus=settings.cpus_per_task, num_gpus=gpus, max_retries=0, name="xares"
        )
        self._names: dict[Hashable, str] = {}

    def _submit(self, units: list[TaskUnit]) -> list[Hashable]:
        refs = []
        for unit in units:
            ref = self._remote.remote(unit, self.sentinel, self._cpus)
            self._names[ref] = unit.task_file
            refs.append(ref)
        return refs

    def _describe(self, handle: Hashable) -> str:
        return f"Ray task for {self._names.get(handle, '?')}"

    def _cancel(self, handles: list[Hashable]) -> None:
        for ref in handles:
            ray.cancel(ref, force=True)

    def _wait(self, handles: list[Hashable]) -> list[tuple[Hashable, Outcome]]:
        ready, _ = ray.wait(list(handles), num_returns=1)
        ended: list[tuple[Hashable, Outcome]] = []
        for ref in ready:
            try:
                value = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # raised by our code, outside the task
                ended.append((ref, JobCrashed(str(ref), str(exc).strip()[-2000:])))
            except ray.exceptions.RayError as exc:  # the worker or its node died
                ended.append((ref, JobLost(str(ref), f"{type(exc).__name__}: {str(exc).strip()[:500]}")))
            else:
                ended.append((ref, value))
        return ended

    def close(self) -> None:
        if self._started and ray.is_initialized():
            ray.shutdown()
            self._started = False
