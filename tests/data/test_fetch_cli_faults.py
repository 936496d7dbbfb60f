"""`xares fetch` against the local stand-in, for the faults of issue 15, through the command line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from xares import cli
from xares.data.shards import audio_to_bytes, write_shards

TASK = """
from xares.task import TaskConfig


def remote_config(encoder):
    return TaskConfig(name="remote", zenodo_id="888", encoder=encoder, output_dim=2)
"""
NAMES = ("train-000000.tar", "valid-000000.tar", "test-000000.tar")


def record_files(tmp_path: Path) -> dict[str, bytes]:
    files = {}
    for name in NAMES:
        samples = [
            (f"k{i}", audio_to_bytes([0.0, 0.2, -0.2] * 200, 16000), "wav", {"label": 0}) for i in range(3)
        ]
        (path,) = write_shards(samples, tmp_path / "made", name)
        files[name] = path.read_bytes()
    return files


@pytest.fixture
def task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XARES_RETRY_BACKOFF_S", "0")
    path = tmp_path / "remote_task.py"
    path.write_text(TASK)
    return path


def test_max_retry_after_is_the_ceiling_and_is_named(zenodo_server, task, tmp_path, capsys):
    zenodo_server.add("888", record_files(tmp_path))
    zenodo_server.faults["888"] = ["429"]
    zenodo_server.retry_after = "900"
    started = time.monotonic()
    code = cli.main(["fetch", "-q", str(task), "--zenodo-url", zenodo_server.url, "--max-retry-after", "60"])
    assert code == 1
    assert time.monotonic() - started < 30  # refused at once, not after 900 s
    out = " ".join(capsys.readouterr().out.split())
    assert "900 s" in out and "60 s" in out and "--max-retry-after" in out, out


def test_max_retry_after_must_be_seconds(task, capsys):
    with pytest.raises(SystemExit):
        cli.main(["fetch", str(task), "--max-retry-after", "later"])
    assert "seconds" in capsys.readouterr().err
