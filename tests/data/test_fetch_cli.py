"""`xares fetch` and stage 0 of `xares run` against a local server that answers like Zenodo."""

import io
import tarfile
from pathlib import Path

import numpy as np

from xares import cli
from xares.data.shards import audio_to_bytes, write_shards

TASK = """
from xares.task import TaskConfig


def label_of(meta):
    return ["a", "b"].index(meta["label"])


def remote_config(encoder):
    return TaskConfig(name="remote", zenodo_id="777", encoder=encoder, label_processor=label_of, output_dim=2,
                      epochs=2, do_knn=False)
"""


def record_files(tmp_path: Path) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    files = {}
    for split in ("train", "valid", "test"):
        samples = [
            (
                f"{split}{i}",
                audio_to_bytes(rng.standard_normal(4000).astype(np.float32) * 0.1, 16000),
                "wav",
                {"label": "ab"[i % 2]},
            )
            for i in range(6)
        ]
        (path,) = write_shards(samples, tmp_path / "shards", f"{split}-*.tar")
        files[path.name] = path.read_bytes()
    return files


def test_fetch_downloads_the_record_once_and_print_urls_lists_it(
    zenodo_server, tmp_path, monkeypatch, capsys
):
    zenodo_server.add("777", record_files(tmp_path))
    task = tmp_path / "remote_task.py"
    task.write_text(TASK)
    monkeypatch.chdir(tmp_path)

    assert cli.main(["fetch", "--print-urls", str(task), "--zenodo-url", zenodo_server.url]) == 0
    printed = capsys.readouterr().out
    assert "train-000000.tar" in printed and "md5:" in printed and str(Path("env/remote")) in printed

    monkeypatch.setenv("XARES_ZENODO_URL", zenodo_server.url)
    assert cli.main(["fetch", "-q", str(task)]) == 0
    assert sorted(p.name for p in Path("env/remote").glob("*.tar")) == [
        "test-000000.tar",
        "train-000000.tar",
        "valid-000000.tar",
    ]
    assert Path("env/remote/.audio_tar_ready").is_file()
    hits = sum(zenodo_server.hits.values())
    assert cli.main(["fetch", "-q", str(task)]) == 0
    assert sum(zenodo_server.hits.values()) == hits  # nothing fetched twice

    mel = Path(__file__).resolve().parents[2] / "example/mel/mel_encoder.py"
    assert cli.main(["run", str(mel), str(task), "--results", "r.json"]) == 0


def test_fetch_reports_a_missing_record(zenodo_server, tmp_path, monkeypatch, capsys):
    task = tmp_path / "remote_task.py"
    task.write_text(TASK)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["fetch", "-q", str(task), "--zenodo-url", zenodo_server.url]) == 1
    assert "777" in capsys.readouterr().out
    assert not Path("env/remote/.audio_tar_ready").exists()


def test_archives_in_a_record_are_extracted(zenodo_server, tmp_path, monkeypatch):
    files = record_files(tmp_path)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    zenodo_server.add("777", {"shards.tar.gz": buffer.getvalue()})
    task = tmp_path / "remote_task.py"
    task.write_text(TASK)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["fetch", "-q", str(task), "--zenodo-url", zenodo_server.url]) == 0
    assert len(list(Path("env/remote").glob("*.tar"))) == 3
