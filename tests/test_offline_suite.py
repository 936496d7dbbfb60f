"""The main job of the README, end to end: the offline suite through the real command line.

The mel encoder must score far above chance on every task, and the random encoder near chance: the
second half proves that no label leaks through the data, the splits or the probes.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from xares.report import load_results

ROOT = Path(__file__).resolve().parents[1]
CORE_TASKS = ["keywords_task.py", "sound_classes_task.py", "mixtures_task.py"]
# task name: (chance level, mel must exceed, random must stay below)
EXPECTED = {
    "offline_keywords": (1 / 12, 0.30, 0.20),
    "offline_sound_classes": (1 / 10, 0.40, 0.22),
    "offline_mixtures": (0.25, 0.42, 0.36),  # mAP chance = mean label frequency (about 1/4 here)
}


@pytest.fixture(scope="module")
def suite_results(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("offline_suite")
    tasks = [str(ROOT / "src/tasks/offline" / name) for name in CORE_TASKS]
    results = {}
    for encoder in ("mel/mel_encoder.py", "random/random_encoder.py"):
        out = workdir / f"{Path(encoder).stem}.json"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "xares.run",
                str(ROOT / "example" / encoder),
                *tasks,
                "--results",
                str(out),
            ],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        results[Path(encoder).stem] = {t["name"]: t for t in load_results(out)["tasks"]}
    return results


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_mel_is_far_above_chance(suite_results, task):
    chance, floor, _ = EXPECTED[task]
    result = suite_results["mel_encoder"][task]
    assert result["mlp_score"] > floor > chance
    if result["knn_score"] is not None:
        assert result["knn_score"] > floor


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_random_encoder_is_near_chance(suite_results, task):
    _, _, ceiling = EXPECTED[task]
    result = suite_results["random_encoder"][task]
    assert result["mlp_score"] < ceiling
    if result["knn_score"] is not None:
        assert result["knn_score"] < ceiling
