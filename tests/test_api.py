"""xares.evaluate: the Python API that the command lines call."""

from __future__ import annotations

from pathlib import Path

import pytest
from toy_data import make_task_file

import xares
import xares.encoder
from xares.errors import EncoderError, RunOptionsError
from xares.report import load_results
from xares.task import load_task_config

ROOT = Path(__file__).resolve().parents[1]
MEL = ROOT / "example/mel/mel_encoder.py"


@pytest.fixture
def fingerprints(monkeypatch):
    """Counts the encoder's weight hashes: one per run, however many tasks it holds."""
    calls = []
    real = xares.encoder.encoder_fingerprint

    def counting(encoder):
        calls.append(type(encoder).__name__)
        return real(encoder)

    monkeypatch.setattr(xares.encoder, "encoder_fingerprint", counting)
    return calls


def test_evaluate_files_saves_results_and_fingerprints_the_encoder_once(tmp_path, monkeypatch, fingerprints):
    monkeypatch.chdir(tmp_path)
    tasks = [make_task_file(tmp_path, name) for name in ("toy", "toy_two")]
    results = xares.evaluate(str(MEL), tasks, env_root=tmp_path / "env", results_path=True, bootstrap=50)
    assert results.path == Path("results/MelEncoder/results.json")
    assert load_results(results.path) == results.document
    assert set(results.tasks) == {"toy", "toy_two"} and results.failed == []
    assert results["toy"]["mlp_score"] > 0.6 and results["toy"]["knn_score"] > 0.6
    assert results.document["encoder"]["source"] == str(MEL)
    assert fingerprints == ["MelEncoder"]
    assert sorted(results.document["run"]["suite"]["tasks"]) == sorted(Path(t).name for t in tasks)


def test_evaluate_objects_in_process_matches_the_file_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    task_file = make_task_file(tmp_path)
    from_files = xares.evaluate(str(MEL), [task_file], env_root=tmp_path / "env", bootstrap=0)
    assert from_files.path is None  # nothing saved unless asked

    encoder = xares.encoder.load_encoder(str(MEL))
    config = load_task_config(task_file, encoder, env_root=tmp_path / "env")
    from_objects = xares.evaluate(encoder, config, env_root=tmp_path / "env", bootstrap=0)
    (by_file,), (by_object,) = from_files.document["tasks"], from_objects.document["tasks"]
    assert by_object["cached"]  # same encoder, same data: the scores the file run stored
    assert (by_object["mlp_score"], by_object["knn_score"]) == (by_file["mlp_score"], by_file["knn_score"])
    assert from_objects.document["encoder"]["fingerprint"] == from_files.document["encoder"]["fingerprint"]


def test_evaluate_stops_before_stage_two_without_a_document(tmp_path):
    results = xares.evaluate(str(MEL), [make_task_file(tmp_path)], env_root=tmp_path / "env", to_stage=1)
    assert results.document is None and results.failed == [] and len(results.task_results) == 1
    assert results.task_results[0].status == "ok"


def test_objects_are_refused_where_they_cannot_travel(tmp_path):
    encoder = xares.encoder.load_encoder(str(MEL))
    with pytest.raises(RunOptionsError, match="in this process only"):
        xares.evaluate(encoder, [make_task_file(tmp_path)], max_jobs=2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"from_stage": 2, "to_stage": 1}, "in order"),
        ({"num_seeds": 0}, "num_seeds"),
        ({"bootstrap": -1}, "bootstrap"),
    ],
)
def test_options_that_cannot_go_together(tmp_path, options, message):
    with pytest.raises(RunOptionsError, match=message):
        xares.evaluate(str(MEL), [make_task_file(tmp_path)], **options)


def test_a_bad_encoder_raises_with_what_is_wrong(tmp_path):
    broken = tmp_path / "broken_encoder.py"
    broken.write_text("raise RuntimeError('weights missing')\n")
    with pytest.raises(EncoderError, match="cannot load the encoder: .*weights missing"):
        xares.evaluate(str(broken), [make_task_file(tmp_path)], env_root=tmp_path / "env")

    wrong = tmp_path / "wrong_encoder.py"
    wrong.write_text(
        "import torch\n"
        "class WrongEncoder(torch.nn.Module):\n"
        "    sampling_rate, output_dim, hop_size_in_ms = 16000, 8, 10\n"
        "    def forward(self, audio):\n"
        "        return torch.zeros(audio.shape[0], 3, 5)\n"
    )
    with pytest.raises(EncoderError, match="WrongEncoder fails check_audio_encoder:\n  - "):
        xares.evaluate(str(wrong), [make_task_file(tmp_path)], env_root=tmp_path / "env")


def test_the_shard_list_of_a_split_is_found_once_per_run(tmp_path, monkeypatch):
    """The store key and the encoder read one list: a shard added between the two cannot be
    encoded without entering the key (nor the reverse)."""
    import xares.task

    monkeypatch.chdir(tmp_path)
    looked_up = []
    real = xares.task.find_shards

    def counting(task_dir, pattern):
        looked_up.append(pattern)
        return real(task_dir, pattern)

    monkeypatch.setattr(xares.task, "find_shards", counting)
    task_file = make_task_file(tmp_path)
    results = xares.evaluate(str(MEL), [task_file], env_root=tmp_path / "env", bootstrap=0)
    splits = load_task_config(task_file, None, env_root=tmp_path / "env").data_splits()
    assert results.failed == [] and len(looked_up) == len(splits) == len(set(looked_up))
