"""Executors: local worker pool, Slurm (real jobs on the cluster .ci/slurm-setup.sh starts) and Ray.

Every remote run is compared with a local run of the same encoder and tasks: the scores must be equal.
The encoder of these tests kills its own job once, mid-encode, when XARES_TEST_KILL names a marker
file that does not exist yet: once the train split of task toy is committed, before the others are
(in a Slurm array, only the job of task toy, the first, does it; under Ray it may be either task's).
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from toy_data import make_task_file

from xares import run
from xares.report import load_results
from xares.scheduler import TaskUnit, base
from xares.scheduler.base import ExecutorOptions, JobLost, RemoteExecutor, check_shared_root, run_job
from xares.scheduler.local import _worker_init, gpu_of_worker, visible_gpus
from xares.task import RunOptions

KILLS_ITSELF_ONCE = """
import os
import signal
import subprocess
import time
from pathlib import Path

import torch


class OnceKilledEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.sampling_rate = 16000
        self.hop_size_in_ms = 10
        self.output_dim = 4

    def forward(self, audio):
        marker = os.environ.get("XARES_TEST_KILL")
        first_of_array = os.environ.get("SLURM_ARRAY_TASK_ID", "0") == "0"  # the job of task toy
        if marker and first_of_array and not Path(marker).exists():
            done = sorted(Path(marker).parent.glob("toy/embeddings/*/train/manifest.json"))
            if done:  # mid-encode: train is committed, valid and test are not
                Path(marker).write_text(done[0].read_text())
                job = os.environ.get("SLURM_JOB_ID")
                if os.environ.get("SLURM_ARRAY_TASK_ID"):  # scancel wants 12_3, not its raw job id
                    job = os.environ["SLURM_ARRAY_JOB_ID"] + "_" + os.environ["SLURM_ARRAY_TASK_ID"]
                if job:
                    subprocess.run(["scancel", job], check=True)
                    time.sleep(120)  # Slurm kills the job
                os.kill(os.getpid(), signal.SIGKILL)
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        frames = audio.shape[-1] // 160 + 1
        padded = torch.nn.functional.pad(audio, (0, frames * 160 - audio.shape[-1]))
        blocks = padded.reshape(audio.shape[0], frames, 160)
        stats = [blocks.std(-1), blocks.abs().mean(-1), blocks.mean(-1), blocks.max(-1).values]
        return torch.stack(stats, -1)
"""


def slurm_skip_reason() -> str | None:
    if importlib.util.find_spec("submitit") is None:
        return "submitit is not installed (pip install submitit)"
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return (
            "no Slurm on this machine (sinfo/sbatch not found); CI starts one with .ci/slurm-setup.sh as root"
        )
    out = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True)
    states = out.stdout.split()
    if out.returncode != 0 or not {"idle", "mix", "alloc", "comp"} & {s.rstrip("*~#") for s in states}:
        return f"Slurm is installed but no node is up (sinfo: {(out.stdout + out.stderr).strip()!r})"
    return None


SLURM_SKIP = slurm_skip_reason()
needs_slurm = pytest.mark.skipif(SLURM_SKIP is not None, reason=f"Slurm tests skipped: {SLURM_SKIP}")
needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install ray)"
)


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """The encoder, two toy tasks, and the scores of a plain local run of them (the reference)."""
    folder = tmp_path_factory.mktemp("suite")
    encoder = folder / "once_killed.py"
    encoder.write_text(KILLS_ITSELF_ONCE)
    tasks = [make_task_file(folder, "toy"), make_task_file(folder, "toy2")]
    outcome = cli(folder, encoder, tasks, "--env-root", str(folder / "env-local"), "--results", "local.json")
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    return {"folder": folder, "encoder": encoder, "tasks": tasks, "local": scores(folder / "local.json")}


def cli(cwd, encoder, tasks, *args, kill_marker=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    env.pop("XARES_TEST_KILL", None)
    if kill_marker is not None:
        env["XARES_TEST_KILL"] = str(kill_marker)
    return subprocess.run(
        [sys.executable, "-m", "xares.run", str(encoder), *map(str, tasks), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def scores(results_file: Path) -> dict[str, tuple]:
    tasks = load_results(results_file)["tasks"]
    return {t["name"]: (t["status"], t["mlp_score"], t["knn_score"], t["num_test_clips"]) for t in tasks}


def split_manifest(env_root: Path, split: str) -> str:
    (path,) = env_root.glob(f"toy/embeddings/*/{split}/manifest.json")
    return path.read_text()


# ----- local ------------------------------------------------------------------------------------------
def test_gpus_are_dealt_to_workers_round_robin(monkeypatch):
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "3, 5"}) == ["3", "5"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert [gpu_of_worker(w, ["3", "5"]) for w in range(4)] == ["3", "5", "3", "5"]
    assert gpu_of_worker(0, []) is None
    threads = torch.get_num_threads()
    counter = multiprocessing.get_context("spawn").Value("i", 1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    try:
        _worker_init(1, ["3", "5"], counter)  # the second worker to start
    finally:
        torch.set_num_threads(threads)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5" and counter.value == 2


# ----- what every remote executor shares ------------------------------------------------------------
def test_a_node_that_cannot_see_the_env_root_is_told_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(base, "SHARED_ROOT_WAIT_S", 0.0)
    absent = check_shared_root(str(tmp_path / "absent"), ".xares-driver-x")
    assert "cannot see the env root" in absent and "shared file system" in absent
    other = check_shared_root(str(tmp_path), ".xares-driver-x")
    assert "not the file .xares-driver-x" in other and "--env-root" in other
    (tmp_path / ".xares-driver-x").write_text("{}")
    assert check_shared_root(str(tmp_path), ".xares-driver-x") is None

    unit = TaskUnit(str(tmp_path / "toy_task.py"), None, str(tmp_path / "absent"), 0, 2, RunOptions())
    result = run_job(unit, ".xares-driver-x")
    assert result.status == "failed" and result.name == "toy" and "cannot see the env root" in result.error


class FlakyJobs(RemoteExecutor):
    """Runs each job here; the first `lost` submissions die without a result."""

    name = "flaky"

    def __init__(self, options, lost):
        super().__init__(options)
        self.lost, self.submitted = lost, []

    def _submit(self, units):
        self.submitted += units
        return [len(self.submitted) - len(units) + i for i in range(len(units))]

    def _wait(self, handles):
        handle = handles[0]
        if handle < self.lost:
            return [(handle, JobLost(str(handle), "NODE_FAIL"))]
        return [(handle, run_job(self.submitted[handle], self.sentinel))]

    def _describe(self, handle):
        return f"flaky job {handle}"


def test_a_lost_job_is_submitted_again_then_given_up(suite, tmp_path):
    unit = TaskUnit(str(suite["tasks"][0]), str(suite["encoder"]), str(tmp_path / "env"), 0, 2, RunOptions())
    executor = FlakyJobs(ExecutorOptions(kind="slurm", max_attempts=2), lost=1)
    (result,) = executor.run([unit])
    assert len(executor.submitted) == 2 and result.status == "ok"
    assert (result.mlp_score, result.knn_score) == suite["local"]["toy"][1:3]
    assert not list((tmp_path / "env").glob(".xares-driver-*")), "the sentinel is removed after the run"

    executor = FlakyJobs(ExecutorOptions(kind="slurm", max_attempts=2), lost=5)
    (result,) = executor.run([unit])  # the scores are cached now: no job at all
    assert executor.submitted == [] and result.status == "ok" and result.cached

    unit = TaskUnit(str(suite["tasks"][0]), str(suite["encoder"]), str(tmp_path / "env2"), 0, 2, RunOptions())
    executor = FlakyJobs(ExecutorOptions(kind="slurm", max_attempts=2), lost=5)
    (result,) = executor.run([unit])
    assert len(executor.submitted) == 2 and result.status == "failed"
    assert "flaky job 1 ended without a result after 2 attempt(s): NODE_FAIL" in result.error
    assert "run the same command again to resume" in result.error


def test_cluster_options_are_checked_before_anything_runs(suite, tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit):
        run.main([str(suite["encoder"]), str(suite["tasks"][0]), "--slurm-option", "no-equals-sign"])
    assert "expected KEY=VALUE" in capsys.readouterr().err

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    status = run.main([str(suite["encoder"]), str(suite["tasks"][0]), "--executor", "slurm"])
    out = " ".join(capsys.readouterr().out.split())
    assert status == 2 and "cannot run the tasks with --executor slurm" in out
    if importlib.util.find_spec("submitit") is None:
        assert "pip install 'xares[cluster]'" in out
    else:
        assert "sbatch, squeue, scancel, srun is not on PATH" in out
    assert not (tmp_path / "env").exists(), "nothing ran locally instead"


# ----- Slurm: real jobs -----------------------------------------------------------------------------
def job_dirs(logs: Path) -> list[str]:
    return sorted(p.name for p in logs.iterdir() if list(p.glob("*_log.out")))


@needs_slurm
def test_slurm_resubmits_a_job_cancelled_mid_encode_and_gives_the_local_scores(suite, tmp_path):
    env_root = tmp_path / "env"
    args = ["--executor", "slurm", "--env-root", str(env_root), "--slurm-time", "10", "-v"]
    first = cli(
        tmp_path,
        suite["encoder"],
        suite["tasks"],
        *args,
        "--results",
        "first.json",
        kill_marker=env_root / "k",
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert scores(tmp_path / "first.json") == suite["local"]
    output = " ".join((first.stdout + first.stderr).split())
    assert "CANCELLED" in output and "submitting toy_task.py again (attempt 2 of 2)" in output, output
    assert split_manifest(env_root, "train") == (env_root / "k").read_text(), "train was not encoded again"
    logs = env_root / "slurm-logs"
    jobs = job_dirs(logs)
    array = {j.split("_")[0] for j in jobs if "_" in j}
    assert len(jobs) == 3 and len(array) == 1, f"an array of 2 jobs, then 1 job again: {jobs}"
    assert "xares.task" in (logs / jobs[0] / f"{jobs[0]}_0_log.err").read_text(), "the job logs its stages"

    second = cli(tmp_path, suite["encoder"], suite["tasks"], *args, "--results", "second.json")
    assert second.returncode == 0, second.stdout + second.stderr
    assert job_dirs(logs) == jobs, "a second run over the same env root submits no job"
    assert scores(tmp_path / "second.json") == suite["local"]
    assert all(t["cached"] for t in load_results(tmp_path / "second.json")["tasks"])
    assert load_results(tmp_path / "second.json")["run"]["executor"] == "slurm"


@needs_slurm
def test_a_slurm_job_out_of_attempts_fails_its_task_and_the_rerun_resumes(suite, tmp_path):
    toy, env_root = suite["tasks"][:1], tmp_path / "env"
    args = ["--executor", "slurm", "--env-root", str(env_root), "--slurm-time", "10", "--results", "r.json"]
    killed = cli(tmp_path, suite["encoder"], toy, *args, "--max-attempts", "1", kill_marker=env_root / "k")
    assert killed.returncode == 1, killed.stdout + killed.stderr
    (failed,) = load_results(tmp_path / "r.json")["tasks"]
    assert failed["status"] == "failed" and "ended without a result after 1 attempt(s)" in failed["error"]
    assert "CANCELLED" in failed["error"] and "run the same command again to resume" in failed["error"]
    train = split_manifest(env_root, "train")
    assert not list(env_root.glob("toy/embeddings/*/test/manifest.json"))

    rerun = cli(tmp_path, suite["encoder"], toy, *args, kill_marker=env_root / "k")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert scores(tmp_path / "r.json")["toy"] == suite["local"]["toy"]
    assert split_manifest(env_root, "train") == train, "the complete train split was not encoded again"


# ----- Ray: a local cluster ---------------------------------------------------------------------------
@needs_ray
def test_ray_gives_the_local_scores_and_resubmits_a_crashed_task(suite, tmp_path):
    env_root = tmp_path / "env"
    outcome = cli(
        tmp_path,
        suite["encoder"],
        suite["tasks"],
        *("--executor", "ray", "--env-root", str(env_root), "--results", "ray.json", "-v"),
        kill_marker=env_root / "killed.json",
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert (env_root / "killed.json").is_file(), "the worker of task toy was killed mid-encode"
    assert "attempt 2 of 2" in " ".join((outcome.stdout + outcome.stderr).split())
    assert scores(tmp_path / "ray.json") == suite["local"]
    assert split_manifest(env_root, "train") == (env_root / "killed.json").read_text()
    assert json.loads((tmp_path / "ray.json").read_text())["run"]["executor"] == "ray"
