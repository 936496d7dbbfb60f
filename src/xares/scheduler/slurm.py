"""The Slurm executor: one job per unit (all of its stages), submitted through submitit as a job array.

Each job is a submitit Checkpointable: when Slurm preempts it, or its time limit comes near (submitit
asks for a USR2 signal 90 s before), the job is requeued with the same arguments, and the rerun skips
every artifact that is already complete. A job that dies without a result (scancel, a node failure,
out of memory) is submitted again by the driver, up to --max-attempts times.

The driver follows its jobs with `squeue` and the result files, not `sacct`, so a cluster without
job accounting works as well.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

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
from xares.task import TaskResult

logger = logging.getLogger(__name__)

# States in which a job will never run again (a requeued or preempted job is not among them).
ENDED = {
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "TIMEOUT",
    "REVOKED",
}
POLL_S = 1.0  # how often the result files are looked for
SQUEUE_EVERY_S = (2.0, 30.0)  # squeue is asked every 2 s at first, then less often, at most every 30 s
RESULT_GRACE_S = {"COMPLETED": 60.0}  # a shared file system may show the result file late ...
DEFAULT_GRACE_S = 2.0  # ... of a job that ended otherwise, the result will not come


try:
    import submitit
except ImportError as exc:
    raise ExecutorError(
        "--executor slurm needs the submitit package, which is not installed: "
        "pip install 'xares[cluster]' (or pip install submitit)."
    ) from exc


class SlurmUnitJob(submitit.helpers.Checkpointable):
    """The job's callable. Checkpointable: requeued with the same arguments on preemption or time-out."""

    def __call__(self, unit: TaskUnit, sentinel: str | None) -> TaskResult:
        cpus = int(os.environ.get("SLURM_CPUS_ON_NODE", "0")) or None
        return run_job(unit, sentinel, cpus)


class SlurmExecutor(RemoteExecutor):
    name = "slurm"

    def __init__(self, options: ExecutorOptions) -> None:
        super().__init__(options)
        missing = [c for c in ("sbatch", "squeue", "scancel", "srun") if shutil.which(c) is None]
        if missing:
            raise ExecutorError(
                f"--executor slurm submits jobs with sbatch, but {', '.join(missing)} is not on PATH here: "
                "run xares on a machine of the cluster that can submit jobs (a login node)."
            )
        slurm = options.slurm
        root = Path(slurm.log_dir) if slurm.log_dir else Path(options.env_root or "env") / "slurm-logs"
        self.log_dir = root.resolve()
        self._executor = submitit.SlurmExecutor(folder=self.log_dir / "%j", max_num_timeout=3)
        parameters: dict[str, Any] = {
            "job_name": "xares",
            "time": slurm.time_minutes,
            "array_parallelism": slurm.array_parallelism,
        }
        if slurm.partition:
            parameters["partition"] = slurm.partition
        if slurm.gpus_per_job:
            parameters["gpus_per_node"] = slurm.gpus_per_job
        if slurm.extra:
            parameters["additional_parameters"] = dict(slurm.extra)
        try:
            self._executor.update_parameters(**parameters)
        except ValueError as exc:
            raise ExecutorError(f"submitit refused the Slurm parameters {parameters}: {exc}") from exc
        self._function = SlurmUnitJob()
        self._ended_at: dict[str, tuple[float, str]] = {}
        self._started = self._last_squeue = time.monotonic()

    def _submit(self, units: list[TaskUnit]) -> list[Hashable]:
        try:
            jobs = self._executor.map_array(self._function, units, [self.sentinel] * len(units))
        except Exception as exc:
            raise ExecutorError(
                f"sbatch refused the job(s): {exc}. Check --slurm-partition, --slurm-time and --slurm-option."
            ) from exc
        logger.info(
            "Slurm: %s for %d task(s); logs in %s",
            f"job array {jobs[0].job_id.split('_')[0]}" if len(jobs) > 1 else f"job {jobs[0].job_id}",
            len(jobs),
            self.log_dir,
        )
        return jobs

    def _describe(self, handle: Hashable) -> str:
        job: Any = handle
        return f"Slurm job {job.job_id} (log {job.paths.stderr})"

    def _cancel(self, handles: list[Hashable]) -> None:
        ids = [job.job_id for job in handles]  # type: ignore[attr-defined]
        subprocess.run(["scancel", *ids], check=False, capture_output=True)

    def _wait(self, handles: list[Hashable]) -> list[tuple[Hashable, Outcome]]:
        jobs: list[Any] = list(handles)
        while True:
            ended = []
            for job in jobs:
                if job.paths.result_pickle.exists():
                    ended.append((job, self._outcome(job)))
            if ended:
                return ended
            now = time.monotonic()
            shortest, longest = SQUEUE_EVERY_S
            if now - self._last_squeue >= min(longest, max(shortest, (now - self._started) / 10)):
                self._last_squeue = now
                states = self._states([job.job_id for job in jobs])
                for job in jobs:
                    if states is None:
                        break  # squeue did not answer; ask again later
                    state = states.get(job.job_id, "GONE")  # squeue forgets jobs a while after they end
                    if state in ENDED or state == "GONE":
                        self._ended_at.setdefault(job.job_id, (now, state))
                    else:
                        self._ended_at.pop(job.job_id, None)  # requeued
            for job in jobs:
                if job.job_id in self._ended_at:
                    since, state = self._ended_at[job.job_id]
                    if now - since >= RESULT_GRACE_S.get(state, DEFAULT_GRACE_S):
                        self._refresh(job)
                        if not job.paths.result_pickle.exists():
                            del self._ended_at[job.job_id]
                            ended.append((job, JobLost(job.job_id, self._why(job, state))))
            if ended:
                return ended
            time.sleep(POLL_S)

    def _outcome(self, job: Any) -> Outcome:
        self._ended_at.pop(job.job_id, None)
        try:
            status, value = submitit.core.utils.pickle_load(job.paths.result_pickle)
        except Exception as exc:
            return JobLost(job.job_id, f"its result file {job.paths.result_pickle} is unreadable ({exc})")
        if status == "success" and isinstance(value, TaskResult):
            return value
        text = str(value).strip().splitlines()
        return JobCrashed(job.job_id, "\n".join(text[-12:]) + f"\nfull log: {job.paths.stderr}")

    @staticmethod
    def _refresh(job: Any) -> None:
        folder = job.paths.folder
        with contextlib.suppress(OSError):  # makes a network file system look at the directory again
            folder.chmod(folder.stat().st_mode)

    def _why(self, job: Any, state: str) -> str:
        text = f"Slurm state {state}" if state != "GONE" else "the job left the queue"
        tail = _tail(job.paths.stderr) or _tail(job.paths.stdout)
        return text + (f"; the end of its log ({job.paths.stderr}):\n{tail}" if tail else "")

    @staticmethod
    def _states(job_ids: list[str]) -> dict[str, str] | None:
        """{job id: state} of the jobs squeue still knows; None when squeue did not answer."""
        bases = sorted({j.split("_")[0] for j in job_ids})
        command = ["squeue", "--noheader", "--array", "--states=all", "--format=%i|%T"]
        try:
            out = subprocess.run(
                [*command, f"--jobs={','.join(bases)}"], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.warning("squeue failed (%s); asking again later", exc)
            return None
        if out.returncode != 0:
            if "Invalid job id" in out.stderr:
                return {}  # every one of them has left the queue
            logger.warning("squeue failed (%s); asking again later", out.stderr.strip())
            return None
        states = {}
        for line in out.stdout.splitlines():
            job_id, _, state = line.strip().partition("|")
            states[job_id] = state.split()[0] if state else "UNKNOWN"
        return states


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])
