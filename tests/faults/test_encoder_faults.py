"""Encoders that misbehave inside a real run (the contract check skipped, as --skip-check allows)."""

import textwrap
from pathlib import Path

import pytest
from toy_data import make_task_file

from xares import run
from xares.report import load_results

ROOT = Path(__file__).resolve().parents[2]
MEL = str(ROOT / "example/mel/mel_encoder.py")

FAULTY = """
import sys
import torch
sys.path.insert(0, {mel_dir!r})
from mel_encoder import MelEncoder


class FaultyEncoder(MelEncoder):
    def forward(self, audio):
        out = super().forward(audio)
        {fault}
        return out
"""

FAULTS = {
    "nan": ("out = out.clone(); out[:, 0, 0] = float('nan')", "NaN or Inf"),
    "wrong_dim": ("out = out[..., :10]", "expected [1"),
    "wrong_batch": ("out = out[:1].repeat(out.shape[0] + 1, 1, 1)", "for a batch of"),
    "float16": ("out = out.half()", "expected torch.float32"),
    "raises_on_long": (
        "if audio.shape[-1] > 16000: raise RuntimeError('input too long for this model')",
        "input too long for this model",
    ),
    "always_oom": (
        "raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2 GiB')",
        "out of memory on a single clip",
    ),
}


def faulty_encoder(tmp_path: Path, fault: str) -> Path:
    path = tmp_path / "faulty_encoder.py"
    path.write_text(FAULTY.format(mel_dir=str(ROOT / "example/mel"), fault=fault))
    return path


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_encoder_fault_fails_the_task_with_a_clear_message(tmp_path, monkeypatch, name):
    fault, message = FAULTS[name]
    monkeypatch.chdir(tmp_path)
    task = make_task_file(tmp_path, extra="batch_size_encode=1," if name == "wrong_dim" else "")
    status = run.main(
        [str(faulty_encoder(tmp_path, fault)), str(task), "--skip-check", "--results", "r.json"]
    )
    result = load_results(tmp_path / "r.json")["tasks"][0]
    assert status == 1 and result["status"] == "failed"
    assert message in result["error"] and "sample" in result["error"], result["error"]
    assert not list(tmp_path.glob("env/toy/embeddings/*/*/manifest.json")) or name == "raises_on_long"


def test_the_contract_check_stops_the_same_faults_before_any_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("nan", "float16", "wrong_dim"):
        encoder = faulty_encoder(tmp_path, FAULTS[name][0])
        assert run.main([str(encoder), str(make_task_file(tmp_path))]) == 2
    assert not (tmp_path / "env").exists()


def test_out_of_memory_retries_smaller_batches_and_changes_no_score(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    task = make_task_file(tmp_path)
    assert run.main([MEL, str(task), "--results", "mel.json"]) == 0
    fault = textwrap.dedent("""\
        if audio.dim() == 2 and audio.shape[0] > 2: raise torch.OutOfMemoryError('CUDA out of memory')""")
    status = run.main([str(faulty_encoder(tmp_path, fault)), str(task), "--results", "oom.json"])
    assert status == 0
    mel, oom = (load_results(tmp_path / f)["tasks"][0] for f in ("mel.json", "oom.json"))
    assert (mel["mlp_score"], mel["knn_score"]) == (oom["mlp_score"], oom["knn_score"])
