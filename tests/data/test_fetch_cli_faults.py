"""`xares fetch` against the local stand-in, for the faults of issue 15, through the command line."""

from __future__ import annotations

import csv
import hashlib
import json
import os
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


# --- item 6: offline users -------------------------------------------------------------------------


@pytest.fixture
def dead_url() -> str:
    import socket

    with socket.socket() as sock:  # a port nobody listens on: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def said(capsys) -> str:
    return " ".join(capsys.readouterr().out.split())


def test_a_refused_connection_says_so_and_where_the_url_came_from(task, dead_url, monkeypatch, capsys):
    assert cli.main(["fetch", "-q", str(task), "--zenodo-url", dead_url]) == 1
    out = said(capsys)
    assert "refused" in out and dead_url in out and "--zenodo-url" in out, out
    assert "rate" not in out.lower(), out  # a refused connection is not a rate limit
    assert "--from-stage 1" in out and str(Path("env/remote")) in out, out

    monkeypatch.setenv("XARES_ZENODO_URL", dead_url)
    assert cli.main(["fetch", "-q", str(task)]) == 1
    out = said(capsys)
    assert "$XARES_ZENODO_URL" in out and dead_url in out, out


def test_the_default_url_is_named_as_the_default(monkeypatch):
    from xares.data.zenodo import base_url_source

    monkeypatch.delenv("XARES_ZENODO_URL", raising=False)
    assert "default" in base_url_source(None)
    assert "--zenodo-url" in base_url_source("http://mirror.example")
    monkeypatch.setenv("XARES_ZENODO_URL", "http://mirror.example")
    assert "$XARES_ZENODO_URL" in base_url_source(None)


def test_shards_placed_by_hand_are_used_offline_and_the_marker_says_unverified(
    task, tmp_path, dead_url, capsys
):
    files = record_files(tmp_path)
    task_dir = Path("env/remote")
    task_dir.mkdir(parents=True)
    for name, data in files.items():
        (task_dir / name).write_bytes(data)
    assert cli.main(["fetch", "-q", str(task), "--zenodo-url", dead_url]) == 0, said(capsys)
    marker = json.loads((task_dir / ".audio_tar_ready").read_text())
    assert sorted(marker["files"]) == sorted(files)
    assert marker["verified"] is False and "could not be listed" in marker["source"], marker


def test_shards_placed_by_hand_are_checked_when_the_record_can_be_listed(
    zenodo_server, task, tmp_path, capsys
):
    files = record_files(tmp_path)
    zenodo_server.add("888", files)
    task_dir = Path("env/remote")
    task_dir.mkdir(parents=True)
    for name, data in files.items():
        (task_dir / name).write_bytes(data)
    assert cli.main(["fetch", "-q", str(task), "--zenodo-url", zenodo_server.url]) == 0, said(capsys)
    marker = json.loads((task_dir / ".audio_tar_ready").read_text())
    assert marker["verified"] is True and "md5" in marker["verified_by"], marker
    assert not [k for k in zenodo_server.hits if k.startswith("file:")]  # nothing downloaded


def test_offline_with_a_split_missing_names_it_and_the_ways_out(task, tmp_path, dead_url, capsys):
    files = record_files(tmp_path)
    task_dir = Path("env/remote")
    task_dir.mkdir(parents=True)
    (task_dir / "train-000000.tar").write_bytes(files["train-000000.tar"])
    assert cli.main(["fetch", "-q", str(task), "--zenodo-url", dead_url]) == 1
    out = said(capsys)
    assert "'valid'" in out and "valid*.tar" in out and "--from-stage 1" in out, out
    assert not (task_dir / ".audio_tar_ready").exists()


# --- item 7: --print-urls in machine-readable forms -------------------------------------------------


def expected_rows(zenodo_server, files: dict[str, bytes]) -> list[dict]:
    return [
        {
            "task": "remote",
            "url": f"{zenodo_server.url}/api/records/888/files/{name}/content",
            "md5": hashlib.md5(data).hexdigest(),
            "sha256": "",
            "bytes": len(data),
            "destination": str(Path("env/remote") / name),
        }
        for name, data in files.items()
    ]


def test_print_urls_as_tsv(zenodo_server, task, tmp_path, capsys):
    files = record_files(tmp_path)
    zenodo_server.add("888", files)
    argv = ["fetch", "--print-urls", "--format", "tsv", str(task), "--zenodo-url", zenodo_server.url]
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = list(csv.DictReader(lines, delimiter="\t"))
    assert lines[0].split("\t") == ["task", "url", "md5", "sha256", "bytes", "destination"]
    assert [{**r, "bytes": int(r["bytes"])} for r in rows] == expected_rows(zenodo_server, files)


def test_print_urls_as_json_with_the_tasks_that_have_no_download(zenodo_server, task, tmp_path, capsys):
    files = record_files(tmp_path)
    zenodo_server.add("888", files)
    private = tmp_path / "mine_task.py"
    private.write_text(TASK.replace('"remote", zenodo_id="888"', '"mine", private=True'))
    argv = [
        "fetch",
        "--print-urls",
        "--format",
        "json",
        str(task),
        str(private),
        "--zenodo-url",
        zenodo_server.url,
    ]
    assert cli.main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["files"] == expected_rows(zenodo_server, files)
    (none,) = document["no_download"]
    assert none["task"] == "mine" and none["shards_go_in"] == str(Path("env/mine")), none


def test_print_urls_errors_go_to_stderr_in_machine_formats(task, dead_url, capsys):
    assert cli.main(["fetch", "--print-urls", "--format", "json", str(task), "--zenodo-url", dead_url]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"files": [], "no_download": []}
    assert "refused" in captured.err


def test_the_human_table_stays(zenodo_server, task, tmp_path, capsys):
    zenodo_server.add("888", record_files(tmp_path))
    assert cli.main(["fetch", "--print-urls", str(task), "--zenodo-url", zenodo_server.url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# remote: Zenodo record 888, 3 files") and "md5:" in out and " MB" in out


# --- item 8: the read timeout is an option ---------------------------------------------------------


def test_read_timeout_on_the_command_line(zenodo_server, task, tmp_path, capsys):
    zenodo_server.add("888", record_files(tmp_path))
    zenodo_server.faults["888"] = ["sleep:1.5"] * 5
    argv = ["fetch", "-q", str(task), "--zenodo-url", zenodo_server.url]
    assert cli.main([*argv, "--read-timeout", "0.2"]) == 1
    out = said(capsys)
    assert "no data for 0.2 s" in out and "--read-timeout" in out, out
    zenodo_server.faults["888"] = ["sleep:1.5"]
    assert cli.main([*argv, "--read-timeout", "20"]) == 0, said(capsys)


def test_xares_run_takes_the_download_options_too(zenodo_server, task, tmp_path, monkeypatch, capsys):
    from xares import run
    from xares.data.debian import MIRROR_ENV
    from xares.data.zenodo import MAX_RETRY_AFTER_ENV, READ_TIMEOUT_ENV, RetryPolicy

    for name in (MIRROR_ENV, MAX_RETRY_AFTER_ENV, READ_TIMEOUT_ENV):  # restored after the test
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    zenodo_server.add("888", record_files(tmp_path))
    zenodo_server.faults["888"] = ["sleep:1.5"] * 5
    mel = Path(__file__).resolve().parents[2] / "example" / "mel" / "mel_encoder.py"
    argv = [
        "--to-stage",
        "0",
        "--skip-check",
        "--zenodo-url",
        zenodo_server.url,
        "--read-timeout",
        "0.2",
        "--max-retry-after",
        "7",
        "--debian-mirror",
        "http://mirror.example/debian/",
        str(mel),
        str(task),
    ]
    assert run.main(argv) == 1
    assert "no data for 0.2 s" in said(capsys)
    policy = RetryPolicy()  # what every later download of this process, and its workers, use
    assert (policy.read_timeout_s, policy.max_retry_after_s) == (0.2, 7.0)
    assert os.environ[MIRROR_ENV] == "http://mirror.example/debian"


@pytest.mark.parametrize("bad", ["0", "-3", "soon", "inf"])
def test_read_timeout_must_be_positive_seconds(task, capsys, bad):
    with pytest.raises(SystemExit):
        cli.main(["fetch", str(task), "--read-timeout", bad])
    assert "second" in capsys.readouterr().err
