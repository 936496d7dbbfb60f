"""Two runs on one env_root at once: one does the work, the other waits and reuses it."""

import os
import subprocess
import sys
from pathlib import Path

from toy_data import make_task_file

from xares.report import load_results

ROOT = Path(__file__).resolve().parents[2]
MEL = str(ROOT / "example/mel/mel_encoder.py")
RANDOM = str(ROOT / "example/random/random_encoder.py")


def start(workdir: Path, encoder: str, results: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xares.run",
            encoder,
            str(workdir / "toy_task.py"),
            "--results",
            results,
            "-v",
        ],
        cwd=workdir,
        env={**os.environ, "COLUMNS": "300"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_same_task_and_encoder_twice_at_once(tmp_path):
    make_task_file(tmp_path)
    first, second = start(tmp_path, MEL, "a.json"), start(tmp_path, MEL, "b.json")
    outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
    assert first.returncode == second.returncode == 0, outputs
    log = "".join(outputs)
    assert log.count("audio ready") == 1, log  # generated once
    assert log.count(": encoded ") == 3, log  # each of the three splits encoded once, by one process
    a, b = (load_results(tmp_path / name)["tasks"][0] for name in ("a.json", "b.json"))
    assert (a["mlp_score"], a["knn_score"]) == (b["mlp_score"], b["knn_score"])


def test_two_encoders_on_one_task_at_once(tmp_path):
    make_task_file(tmp_path)
    mel, rnd = start(tmp_path, MEL, "mel.json"), start(tmp_path, RANDOM, "random.json")
    outputs = [p.communicate(timeout=300)[0] for p in (mel, rnd)]
    assert mel.returncode == rnd.returncode == 0, outputs
    stores = sorted(p.name.split("-")[0] for p in (tmp_path / "env/toy/embeddings").iterdir() if p.is_dir())
    assert stores == ["MelEncoder", "RandomEncoder"]
    assert load_results(tmp_path / "mel.json")["tasks"][0]["mlp_score"] > 0.6
