"""What every executor shares: its options, its interface, and the driver loop of the remote ones.

An executor takes TaskUnits (one task through its stages, for one encoder) and returns one TaskResult
per unit. The remote executors (Slurm, Ray) run each unit as one job that does all its stages: the
embeddings it writes are what the probe reads next, on the same node, and the login node is spared the
probe training. The driver (the `xares run` process) plans, submits, collects the results, resubmits a
job that died, and writes results.json.

Resuming works because every artifact is atomic and keyed: a resubmitted job, or a second `xares run`
over the same env root, skips the complete ones. A unit whose scores are already cached is not
submitted at all; the driver reads it back itself.
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import dataclasses
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xares import score_cache
from xares.acquire import is_acquired
from xares.errors import XaresError
from xares.scheduler.unit import TaskUnit, run_unit, unit_encoder
from xares.store import is_complete
from xares.task import TaskResult, XaresTask, load_task_config

logger = logging.getLogger(__name__)

EXECUTORS = ("local", "slurm", "ray")
SENTINEL_PREFIX = ".xares-driver-"
SHARED_ROOT_WAIT_S = 20.0  # how long a job waits for the driver's sentinel to show on its file system
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class ExecutorError(XaresError, RuntimeError):
    """An executor cannot start: a missing package or command, or an option it cannot use."""


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    gpus_per_job: int = 0
    time_minutes: int = 240
    array_parallelism: int = 64
    extra: tuple[tuple[str, str], ...] = ()  # --slurm-option KEY=VALUE: sbatch flags passed through
    log_dir: str | None = None  # None: <env root>/slurm-logs


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local Ray cluster for this run
    cpus_per_task: float = 1.0
    gpus_per_task: float | None = None  # None: 1 when the cluster has GPUs, else 0


@dataclass(frozen=True)
class ExecutorOptions:
    """Where the units run; `kind` picks the executor (see make_executor in xares.scheduler)."""

    kind: str = "local"
    max_attempts: int = 2  # remote executors: submissions of a unit whose job died without a result
    env_root: str | None = None  # the run's --env-root; the default home of the Slurm logs
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    ray: RayOptions = field(default_factory=RayOptions)

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ExecutorError(f"unknown executor {self.kind!r}; choose one of {', '.join(EXECUTORS)}.")
        if self.max_attempts < 1:
            raise ExecutorError(f"max_attempts must be at least 1, got {self.max_attempts}.")


def parse_key_value(text: str) -> tuple[str, str]:
    """'KEY=VALUE' (an sbatch flag without its dashes, e.g. 'mem=32G' or 'cpus-per-task=8')."""
    key, sep, value = text.partition("=")
    key = key.strip().lstrip("-")
    if not sep or not _KEY.match(key):
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE with KEY an sbatch option name (e.g. mem=32G, cpus-per-task=8, "
            f"qos=high), got {text!r}"
        )
    return key, value.strip()


class Executor(abc.ABC):
    """Runs units and returns one TaskResult per unit; `on_result` sees each one as it arrives."""

    name = "executor"

    @abc.abstractmethod
    def run(
        self, units: list[TaskUnit], on_result: Callable[[TaskResult], None] | None = None
    ) -> list[TaskResult]: ...


# ----- in the job ------------------------------------------------------------------------------------
def check_shared_root(env_root: str | None, sentinel: str | None) -> str | None:
    """None when this machine sees the driver's env root; otherwise what is wrong and what to do."""
    if env_root is None or sentinel is None:
        return None
    root, host = Path(env_root), socket.gethostname()
    advice = (
        "Every node must see the same env root: put it on a shared file system (a network home, "
        "/scratch, Lustre, NFS; not /tmp or a node-local disk) and pass it as --env-root; the task and "
        "encoder files, and the Python environment, must be readable there too."
    )
    deadline = time.monotonic() + SHARED_ROOT_WAIT_S
    while True:  # a network file system may show a new file to other machines a few seconds late
        if root.is_dir():
            with contextlib.suppress(OSError), os.scandir(root):  # refreshes a cached listing
                pass
            if (root / sentinel).is_file():
                return None
        if time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    if not root.is_dir():
        return f"node {host} cannot see the env root {root}: it does not exist there. {advice}"
    return (
        f"node {host} sees a directory {root}, but not the file {sentinel} that the driver wrote into it "
        f"before submitting: this node's {root} is another directory of the same name. {advice}"
    )


def _unreadable_files(unit: TaskUnit) -> str | None:
    spec = unit.encoder_spec or ""
    encoder_file = spec.rsplit(":", 1)[0] if ".py:" in spec else spec
    files = [unit.task_file] + ([encoder_file] if encoder_file.endswith(".py") else [])  # not a name
    missing = [f for f in files if not Path(f).is_file()]
    if not missing:
        return None
    return (
        f"node {socket.gethostname()} cannot read {', '.join(missing)}: task and encoder files must be on "
        "a file system every node shares, at the same path."
    )


def run_job(unit: TaskUnit, sentinel: str | None = None, cpus: int | None = None) -> TaskResult:
    """The body of one remote job: check the shared env root, then run the unit's stages."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    problem = check_shared_root(unit.env_root, sentinel) or _unreadable_files(unit)
    if problem is not None:
        logger.error("%s", problem)
        return failed_result(unit, problem)
    if cpus:
        import torch

        torch.set_num_threads(cpus)
        if unit.options.encode.decode_workers is None:  # not one decoder per core of the whole node
            encode = dataclasses.replace(unit.options.encode, decode_workers=cpus)
            unit = dataclasses.replace(unit, options=dataclasses.replace(unit.options, encode=encode))
    return run_unit(unit)


def failed_result(unit: TaskUnit, message: str) -> TaskResult:
    name = Path(unit.task_file).stem.removesuffix("_task")
    return TaskResult(name=name, formal_name=name, status="failed", error=f"{unit.task_file}: {message}")


# ----- in the driver ---------------------------------------------------------------------------------
@dataclass
class JobLost:
    """A job ended without a result (killed, preempted for good, node failure, out of memory)."""

    job: str
    reason: str


@dataclass
class JobCrashed:
    """The job's code raised outside the task (e.g. xares cannot be imported on the node); no retry."""

    job: str
    reason: str


Outcome = TaskResult | JobLost | JobCrashed


class RemoteExecutor(Executor):
    """Plan, submit, collect, resubmit: the driver loop of every executor that runs units as jobs."""

    def __init__(self, options: ExecutorOptions) -> None:
        self.options = options
        self.sentinel = f"{SENTINEL_PREFIX}{uuid.uuid4().hex[:12]}"  # the file jobs look for
        self._sentinels: list[Path] = []

    # what a backend implements
    @abc.abstractmethod
    def _submit(self, units: list[TaskUnit]) -> list[Hashable]:
        """Submit one job per unit; return handles in the same order."""

    @abc.abstractmethod
    def _wait(self, handles: list[Hashable]) -> list[tuple[Hashable, Outcome]]:
        """Block until at least one job ended; return the ended ones with their outcome."""

    @abc.abstractmethod
    def _describe(self, handle: Hashable) -> str:
        """The job's name in messages (e.g. 'Slurm job 1234_0, log /shared/env/slurm-logs/1234_0')."""

    def _cancel(self, handles: list[Hashable]) -> None:
        """Stop jobs that are still queued or running (the driver is being interrupted)."""

    def close(self) -> None:
        """Release what the executor holds (a local Ray cluster, ...)."""

    def run(
        self, units: list[TaskUnit], on_result: Callable[[TaskResult], None] | None = None
    ) -> list[TaskResult]:
        results: dict[int, TaskResult] = {}

        def emit(index: int, result: TaskResult) -> None:
            results[index] = result
            if on_result:
                on_result(result)

        pending: dict[Hashable, tuple[int, TaskUnit, int]] = {}
        try:
            remote: list[tuple[int, TaskUnit]] = []
            for index, unit in enumerate(units):
                unit, where = plan_unit(unit)
                if where == "driver":
                    emit(index, run_unit(unit))
                else:
                    remote.append((index, unit))
            if len(remote) < len(units):
                logger.info(
                    "%s: %d of %d task(s) need no job (cached scores, or a task file that does not load)",
                    self.name,
                    len(units) - len(remote),
                    len(units),
                )
            if remote:
                self._write_sentinels({u.env_root for _, u in remote if u.env_root})
                handles = self._submit([u for _, u in remote])
                logger.info("%s: submitted %d job(s)", self.name, len(handles))
                for handle, (index, unit) in zip(handles, remote, strict=True):
                    pending[handle] = (index, unit, 1)
            while pending:
                for handle, outcome in self._wait(list(pending)):
                    index, unit, attempt = pending.pop(handle)
                    if isinstance(outcome, TaskResult):
                        emit(index, outcome)
                        continue
                    where = self._describe(handle)
                    if isinstance(outcome, JobCrashed):
                        emit(index, failed_result(unit, f"{where} failed outside the task: {outcome.reason}"))
                    elif attempt < self.options.max_attempts:
                        logger.warning(
                            "%s ended without a result (%s); submitting %s again (attempt %d of %d); "
                            "it resumes from the complete artifacts",
                            where,
                            outcome.reason,
                            Path(unit.task_file).name,
                            attempt + 1,
                            self.options.max_attempts,
                        )
                        try:
                            (new,) = self._submit([unit])
                        except ExecutorError as exc:
                            emit(
                                index,
                                failed_result(unit, f"{where} died and could not be resubmitted: {exc}"),
                            )
                        else:
                            pending[new] = (index, unit, attempt + 1)
                    else:
                        message = (
                            f"{where} ended without a result after {attempt} attempt(s): {outcome.reason}. "
                            "Complete artifacts are kept: run the same command again to resume (or raise "
                            "--max-attempts)."
                        )
                        emit(index, failed_result(unit, message))
        except BaseException:
            if pending:
                logger.warning("%s: cancelling %d unfinished job(s)", self.name, len(pending))
                self._cancel(list(pending))
            raise
        finally:
            self._remove_sentinels()
            self.close()
        return [results[i] for i in sorted(results)]

    def _write_sentinels(self, roots: set[str]) -> None:
        for root in sorted(roots):
            path = Path(root) / self.sentinel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}) + "\n"
            )
            self._sentinels.append(path)

    def _remove_sentinels(self) -> None:
        for path in self._sentinels:
            path.unlink(missing_ok=True)
        self._sentinels.clear()


def plan_unit(unit: TaskUnit) -> tuple[TaskUnit, str]:
    """Where a unit runs: 'driver' when its scores are cached (or its task file cannot even be loaded,
    which a job would only repeat), else 'job'. The unit comes back with absolute paths and the task's
    env root spelled out, so that a job on another machine reads the same files."""
    unit = dataclasses.replace(
        unit,
        task_file=str(Path(unit.task_file).resolve()),
        encoder_spec=_absolute_spec(unit.encoder_spec),
        options=dataclasses.replace(unit.options, progress=False),
    )
    try:
        config = load_task_config(unit.task_file, unit_encoder(unit.encoder_spec), env_root=unit.env_root)
    except Exception:
        return unit, "driver"  # run_unit turns the error into a failed result with the file's name
    unit = dataclasses.replace(unit, env_root=str(Path(config.env_root).resolve()))
    if config.disabled:
        return unit, "driver"
    try:
        cached = _is_cached(unit, config)
    except Exception as exc:  # missing shards, an unreadable store: the job finds out and reports it
        logger.debug("%s: not cached (%s)", config.name, exc)
        cached = False
    return unit, "driver" if cached else "job"


def _is_cached(unit: TaskUnit, config: Any) -> bool:
    if unit.options.overwrite != "missing" or unit.to_stage < 2 or unit.encoder_spec is None:
        return False
    if config.force_download or config.force_encode or config.force_mlp or config.force_knn:
        return False
    if unit.from_stage <= 0 and not is_acquired(config):
        return False
    task = XaresTask(config, options=unit.options)
    if unit.from_stage <= 1 and not all(
        is_complete(task.split_dir(s), task.store_key(s)) for s in config.data_splits()
    ):
        return False
    return score_cache.read_entry(task.score_path()) is not None


def _absolute_spec(spec: str | None) -> str | None:
    """'file.py[:Class]' with an absolute path; a named encoder ('hf:...', 'hear:...') as it is."""
    if spec is None:
        return None
    path, sep, name = spec.partition(":") if spec.count(":") == 1 and ".py:" in spec else (spec, "", "")
    return f"{Path(path).resolve()}{sep}{name}" if path.endswith(".py") else spec
