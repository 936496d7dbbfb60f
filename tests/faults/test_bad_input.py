"""Corrupt or odd input: a clear error naming file and sample, or a counted skip under --skip-bad-samples."""

import pytest
from toy_data import ODD_BUT_VALID, make_task_file

from xares import run
from xares.report import load_results

MEL = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "example/mel/mel_encoder.py")

# kind: (text the error must contain, besides the task name)
BROKEN = {
    "truncated_tar": "test-9000000.tar: the tar is damaged",
    "garbage_audio": "sample 'bad_clip'",
    "zero_length_audio": "sample 'bad_clip' holds zero audio samples",
    "nan_audio": "sample 'bad_clip' contains NaN or Inf",
    "bad_json": "sample 'bad_clip' has a .json member that is not valid",
    "unknown_label": "sample 'bad_clip'",
    "non_utf8_key": "is not valid UTF-8",
    "duplicate_key": "key 'bad_clip' appears twice",
}


def run_toy(tmp_path, monkeypatch, kind, *extra):
    monkeypatch.chdir(tmp_path)
    task = make_task_file(tmp_path, generator=f"lambda d: toy_data.write_toy_shards_with(d, {kind!r})")
    status = run.main([MEL, str(task), "--results", "r.json", *extra])
    return status, load_results(tmp_path / "r.json")["tasks"][0]


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_bad_sample_fails_its_task_with_file_and_sample(tmp_path, monkeypatch, kind):
    status, task = run_toy(tmp_path, monkeypatch, kind)
    assert status == 1 and task["status"] == "failed"
    assert BROKEN[kind] in task["error"], task["error"]
    assert "900000.tar" in task["error"] or "toy" in task["error"]


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_skip_bad_samples_skips_logs_and_counts(tmp_path, monkeypatch, kind):
    status, task = run_toy(tmp_path, monkeypatch, kind, "--skip-bad-samples")
    assert status == 0 and task["status"] == "ok", task.get("error")
    assert len(task["skipped"]) >= 1 and any(BROKEN[kind] in reason for reason in task["skipped"])
    assert task["num_test_clips"] >= 18  # the good test clips are all still there


def test_an_empty_split_is_an_error_even_when_skipping(tmp_path, monkeypatch):
    for extra in ((), ("--skip-bad-samples",)):
        status, task = run_toy(tmp_path, monkeypatch, "empty_split", *extra)
        assert status == 1 and "split 'valid' holds no usable sample" in task["error"]


@pytest.mark.parametrize("kind", sorted(ODD_BUT_VALID))
def test_odd_but_valid_audio_is_used(tmp_path, monkeypatch, kind):
    status, task = run_toy(tmp_path, monkeypatch, kind)
    assert status == 0 and task["status"] == "ok", task.get("error")
    assert task["num_test_clips"] == 19 and task["skipped"] == []
