"""Acquisition under faults, through the real command line: killed mid-download, and two at once."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from xares.data.shards import audio_to_bytes, write_shards

TASK = """
from xares.task import TaskConfig


def remote_config(encoder):
    return TaskConfig(name="remote", zenodo_id="4242", encoder=encoder, output_dim=2)
"""


def big_record(tmp_path: Path) -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    files = {}
    for split in ("train", "valid", "test"):
        samples = [
            (
                f"{split}{i}",
                audio_to_bytes(rng.standard_normal(64000).astype(np.float32) * 0.1, 16000),
                "wav",
                {"label": i % 2},
            )
            for i in range(24)
        ]
        (path,) = write_shards(samples, tmp_path / "shards", f"{split}-*.tar")
        files[path.name] = path.read_bytes()  # ~2.6 MB each: three 1 MiB chunks
    return files


def fetch(workdir: Path, url: str, failpoint: str = "") -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xares.cli",
            "fetch",
            "-q",
            str(workdir / "remote_task.py"),
            "--zenodo-url",
            url,
        ],
        cwd=workdir,
        env={**os.environ, "XARES_FAILPOINT": failpoint},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_download_killed_mid_file_resumes_with_a_range_request(zenodo_server, tmp_path):
    files = big_record(tmp_path)
    zenodo_server.add("4242", files)
    (tmp_path / "remote_task.py").write_text(TASK)
    killed = fetch(tmp_path, zenodo_server.url, "download.chunk:2")
    killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "env/remote/.audio_tar_ready").exists()
    assert list((tmp_path / "env/.downloads/4242").glob("*.part")), "the partial download was not kept"
    again = fetch(tmp_path, zenodo_server.url)
    output = again.communicate(timeout=120)[0]
    assert again.returncode == 0, output
    for name, payload in files.items():
        assert (tmp_path / "env/remote" / name).read_bytes() == payload
    resumed = [r for rs in zenodo_server.ranges.values() for r in rs if r and r != "bytes=0-"]
    assert resumed, dict(zenodo_server.ranges)


def test_two_fetches_at_once_download_each_file_once(zenodo_server, tmp_path):
    files = big_record(tmp_path)
    zenodo_server.add("4242", files)
    (tmp_path / "remote_task.py").write_text(TASK)
    runs = [fetch(tmp_path, zenodo_server.url) for _ in range(2)]
    outputs = [r.communicate(timeout=120)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    for name in files:
        assert zenodo_server.hits[f"file:{name}"] == 1


def test_a_fetch_waiting_for_anothers_lock_says_who_holds_it(zenodo_server, tmp_path):
    import time

    files = big_record(tmp_path)
    zenodo_server.add("4242", files)
    zenodo_server.faults["4242"] = ["sleep:10"]  # the first fetch holds the lock for a while
    (tmp_path / "remote_task.py").write_text(TASK)
    first = fetch(tmp_path, zenodo_server.url)
    deadline = time.monotonic() + 60
    while not zenodo_server.hits["listing:4242"] and time.monotonic() < deadline:
        time.sleep(0.05)
    second = fetch(tmp_path, zenodo_server.url)
    outputs = [first.communicate(timeout=120)[0], second.communicate(timeout=120)[0]]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    said = " ".join(outputs[1].split())
    assert f"pid {first.pid}" in said and "waiting" in said, said
    assert "remote" in said  # which task (or record) it waits for
    for name in files:
        assert zenodo_server.hits[f"file:{name}"] == 1
