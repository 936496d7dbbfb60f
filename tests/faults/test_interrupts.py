"""SIGKILL at named points of every stage, then run again: same scores, and nothing partial is ever read.

The kill comes from inside the process (xares.faults.failpoint), at exactly the chosen moment: no
cleanup handler, no `finally`, no atexit runs, as with the OOM killer or a pre-empted job.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from toy_data import make_task_file

from xares.report import load_results
from xares.store import load_split, read_manifest

ROOT = Path(__file__).resolve().parents[2]
MEL = str(ROOT / "example/mel/mel_encoder.py")

KILL_POINTS = [
    "acquire.generated",  # generator wrote its shards into the scratch folder
    "acquire.placing",  # some shards moved into the task folder, marker not yet written
    "json.before_replace:1",  # the acquisition marker's temp file written, not renamed
    "encode.window",  # a window encoded, split not committed
    "store.before_manifest",  # all arrays of a split written, manifest not yet
    "store.before_rename",  # manifest written inside the temp folder, not renamed into place
    "encode.split_done:1",  # first split committed, the others not started
    "encode.split_done:2",  # two of three splits committed
    "probe.epoch:3",  # mid-training of the MLP head
    "probe.scored",  # scores computed, score cache not written
    "results.before_write",  # every task done, results.json not written
    "json.before_replace:6",  # a later atomic JSON write (score cache or results)
]


def run_cli(workdir: Path, failpoint: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "XARES_FAILPOINT": failpoint or ""}
    return subprocess.run(
        [sys.executable, "-m", "xares.run", MEL, str(workdir / "toy_task.py"), "--results", "r.json"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def scores(workdir: Path) -> tuple:
    task = load_results(workdir / "r.json")["tasks"][0]
    return task["mlp_score"], task["knn_score"], task["num_test_clips"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("reference")
    make_task_file(workdir)
    completed = run_cli(workdir)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return scores(workdir)


def assert_nothing_partial_is_visible(workdir: Path) -> None:
    """Every artifact a reader would accept is complete and valid."""
    results = workdir / "r.json"
    if results.exists():
        load_results(results)
    for manifest_path in workdir.glob("env/*/embeddings/*/*/manifest.json"):
        split_dir = manifest_path.parent
        load_split(split_dir, read_manifest(split_dir)["key"])  # raises on any inconsistency
    for cached in workdir.glob("env/*/scores/*/*.json"):
        json.loads(cached.read_text())
    marker = workdir / "env/toy/.audio_tar_ready"
    if marker.exists():
        for name, size in json.loads(marker.read_text())["files"].items():
            assert (workdir / "env/toy" / name).stat().st_size == size


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_run_resumes_to_the_same_scores(tmp_path, reference, point):
    make_task_file(tmp_path)
    killed = run_cli(tmp_path, point)
    assert killed.returncode == -signal.SIGKILL, f"{point} was never reached:\n{killed.stdout}{killed.stderr}"
    assert_nothing_partial_is_visible(tmp_path)
    again = run_cli(tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert scores(tmp_path) == reference
    assert_nothing_partial_is_visible(tmp_path)
    assert not list(tmp_path.glob("env/toy/embeddings/*/.*tmp-*")), "temporary split folders left behind"
