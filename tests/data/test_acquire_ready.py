"""Stage 0 never says "ready" for a task whose splits are not all in place (issue 15, item 1).

A record that lacks the file of one split used to be reported ready; stage 1 then failed with "run stage
0", and stage 0 said ready again without a request: a loop with no way out. Now every shard pattern of
every split the task uses (the mini selection under --mini) is checked before `.audio_tar_ready` is
written, the error names the split, and a marker that no longer matches the task's patterns is not
trusted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.data.fake_records import TASKS_DIR, build_record
from xares import cli
from xares.acquire import READY_MARKER, acquire, is_acquired
from xares.data.shards import audio_to_bytes, write_shards
from xares.errors import DataError
from xares.task import TaskConfig

ESC50 = TASKS_DIR / "esc50_task.py"

MINI_TASK = """
from xares.task import TaskConfig


def remote_config(encoder):
    return TaskConfig(
        name="remote", zenodo_id="555", encoder=encoder, output_dim=2,
        mini_audio_tar_name_of_split={"train": "train-000000.tar", "valid": "valid-000000.tar",
                                      "test": "test-00000{0,1}.tar"},
    )
"""


def shard_bytes(tmp_path: Path, name: str) -> bytes:
    samples = [
        (f"k{i}", audio_to_bytes([0.0, 0.1, -0.1] * 100, 16000), "wav", {"label": 0}) for i in range(2)
    ]
    (path,) = write_shards(samples, tmp_path / "made", name)
    return path.read_bytes()


@pytest.fixture
def esc50_without_fold_5(zenodo_server, tmp_path: Path) -> str:
    record = build_record(ESC50, tmp_path)
    files = {k: v for k, v in record.files.items() if not k.startswith("wds-audio-fold-5-")}
    assert len(files) < len(record.files)
    zenodo_server.add(record.record_id, files)
    return record.record_id


def test_a_record_without_the_file_of_a_split_is_never_ready(
    zenodo_server, esc50_without_fold_5, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    argv = ["fetch", "-q", str(ESC50), "--zenodo-url", zenodo_server.url]
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert "split 5" in out and "wds-audio-fold-5-*.tar" in out, out
    assert "wds-audio-fold-1-000000.tar" in out  # what the record does hold
    assert not Path("env/esc50", READY_MARKER).exists()
    assert not [k for k in zenodo_server.hits if k.startswith("file:")]  # refused before downloading
    # The second call says the same again (from the cached listing): no "ready" on a broken record.
    assert cli.main(argv) == 1
    assert "split 5" in capsys.readouterr().out
    assert not Path("env/esc50", READY_MARKER).exists()


def test_a_marker_that_no_longer_matches_the_patterns_is_not_trusted(zenodo_server, tmp_path, monkeypatch):
    files = {n: shard_bytes(tmp_path, n) for n in ("train-000000.tar", "valid-000000.tar", "test-000000.tar")}
    zenodo_server.add("555", files)
    config = TaskConfig(name="remote", zenodo_id="555", output_dim=2, env_root=tmp_path / "env")
    acquire(config, base_url=zenodo_server.url)
    assert is_acquired(config)
    marker = json.loads((config.task_dir / READY_MARKER).read_text())
    assert sorted(marker["files"]) == sorted(files)

    config.test_split = "eval"  # the task file changed: its test split is now another pattern
    assert not is_acquired(config)
    with pytest.raises(DataError, match=r"split 'eval'.*eval\*\.tar"):
        acquire(config, base_url=zenodo_server.url)

    config.test_split = "test"
    assert is_acquired(config)
    (config.task_dir / "test-000000.tar").unlink()
    (config.task_dir / "test-000000.tar").write_bytes(b"another file")  # replaced by hand
    assert not is_acquired(config)
    acquire(config, base_url=zenodo_server.url)  # placed again from the cache, no download
    assert (config.task_dir / "test-000000.tar").read_bytes() == files["test-000000.tar"]
    assert is_acquired(config)
    (config.task_dir / "valid-000000.tar").unlink()  # a shard deleted by hand
    assert not is_acquired(config)
    acquire(config, base_url=zenodo_server.url)  # placed again from the cache, no download
    assert (config.task_dir / "valid-000000.tar").read_bytes() == files["valid-000000.tar"]
    assert zenodo_server.hits["file:valid-000000.tar"] == 1


def test_the_mini_selection_is_checked_under_mini(zenodo_server, tmp_path, monkeypatch, capsys):
    names = ("train-000000.tar", "valid-000000.tar", "test-000000.tar")  # no test-000001.tar
    zenodo_server.add("555", {n: shard_bytes(tmp_path, n) for n in names})
    task = tmp_path / "remote_task.py"
    task.write_text(MINI_TASK)
    monkeypatch.chdir(tmp_path)
    argv = ["fetch", "-q", str(task), "--zenodo-url", zenodo_server.url]
    assert cli.main(argv) == 0  # the full selection is complete
    capsys.readouterr()
    assert cli.main([*argv, "--mini"]) == 1  # the mini selection names a file the record lacks
    out = capsys.readouterr().out
    assert "split 'test'" in out and "test-000001.tar" in out, out
