"""Encoders given by name (hf:, hear:) through the real command line, worker processes included."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from xares.cli import main as xares_main

ROOT = Path(__file__).resolve().parents[2]
HEAR_MODULE = """
import torch

class Frames(torch.nn.Module):
    sample_rate = 16000
    timestamp_embedding_size = 64
    scene_embedding_size = 64

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.proj = torch.nn.Linear(201, 64)

def load_model(model_file_path=""):
    return Frames().eval()

def get_timestamp_embeddings(audio, model):
    frames = torch.nn.functional.pad(audio, (200, 200)).unfold(-1, 400, 320)
    spectrum = torch.fft.rfft(frames * torch.hann_window(400, device=audio.device)).abs()  # 201 bins
    embeddings = model.proj(torch.log1p(spectrum))
    timestamps = torch.arange(frames.shape[1]) * 20.0
    return embeddings, timestamps.expand(audio.shape[0], -1)
"""


@pytest.mark.slow
def test_hear_module_runs_the_offline_tasks_in_worker_processes(tmp_path):
    module = tmp_path / "tiny_hear.py"
    module.write_text(HEAR_MODULE)
    tasks = [str(ROOT / "src/tasks/offline" / t) for t in ("sound_classes_task.py", "scenes_task.py")]
    out = tmp_path / "results.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "xares.run",
            f"hear:{module}",
            *tasks,
            "--max-jobs",
            "2",
            "--results",
            str(out),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(out.read_text())
    assert results["encoder"]["name"] == "TinyHearEncoder"
    assert results["encoder"]["hop_size_in_ms"] == pytest.approx(20.0)
    scores = {t["name"]: t["mlp_score"] for t in results["tasks"]}
    assert scores["offline_sound_classes"] > 0.2  # chance is 0.1


def test_xares_check_accepts_a_hf_name(tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    transformers.Wav2Vec2Model(config).save_pretrained(tmp_path)
    transformers.Wav2Vec2FeatureExtractor().save_pretrained(tmp_path)
    assert xares_main(["check", f"hf:{tmp_path}@layer=1"]) == 0
    assert xares_main(["check", f"hf:{tmp_path}@layer=9"]) == 2  # unusable: a clear error, exit 2
