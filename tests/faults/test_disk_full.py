"""A full disk while writing the store or the results: a clear error and no corrupt artifact."""

import errno
import json

import numpy as np
import pytest

from xares.errors import ArtifactError
from xares.store import SplitWriter, is_complete, write_json_atomic


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_store_writer_leaves_nothing_when_the_disk_fills(tmp_path, monkeypatch):
    from toy_data import make_task_file

    from xares import run
    from xares.report import load_results

    monkeypatch.chdir(tmp_path)
    task = make_task_file(tmp_path)
    real_add = SplitWriter.add
    calls = {"n": 0}

    def add_until_full(self, frames, record):
        calls["n"] += 1
        if calls["n"] == 20:
            no_space()
        return real_add(self, frames, record)

    monkeypatch.setattr(SplitWriter, "add", add_until_full)
    mel = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "example/mel/mel_encoder.py")
    assert run.main([mel, str(task), "--results", "r.json"]) == 1
    error = load_results(tmp_path / "r.json")["tasks"][0]["error"]
    assert "no space left on the device while writing the embedding store" in error
    assert not list(tmp_path.glob("env/toy/embeddings/*/*")), "a partial split was left behind"
    monkeypatch.setattr(SplitWriter, "add", real_add)
    assert run.main([mel, str(task), "--results", "r.json"]) == 0  # and the next run completes


def test_json_write_keeps_the_old_version_when_the_disk_fills(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_json_atomic(path, {"version": 1})
    monkeypatch.setattr(json, "dump", no_space)
    with pytest.raises(ArtifactError, match="no space left on the device while writing .*results.json"):
        write_json_atomic(path, {"version": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_split_interrupted_by_a_full_disk_is_never_complete(tmp_path):
    writer = SplitWriter(tmp_path / "train", {"k": 1}, dim=2)
    writer.add(np.zeros((3, 2), np.float32), {"key": "a"})
    writer.abort()
    assert not is_complete(tmp_path / "train", {"k": 1}) and list(tmp_path.iterdir()) == []
