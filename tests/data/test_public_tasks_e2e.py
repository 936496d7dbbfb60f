"""Every public X-ARES task through the command line against a local stand-in for Zenodo.

The server (the `zenodo_server` fixture) answers the records API and file downloads on 127.0.0.1 and
serves each task's fake record (tests/data/fake_records.py: format-faithful shards with the task's
real file names, class names and JSON fields) under the task's own zenodo_id. For every task file,
`python -m xares.run example/mel/mel_encoder.py TASK.py` (in-process, through `xares.run.main`) runs
acquire -> encode -> probe -> report and must finish with status ok and a score in range. One run
goes through a real subprocess: the two LibriSpeech tasks, which share a record that must be
downloaded once.

Then stage 0's faults, end to end through `xares fetch` on public tasks: a 429 with Retry-After, a
connection dropped mid-file (resumed with a Range request), a wrong checksum (a clear error, nothing
corrupt left, exit status 1) and archives with malicious members (refused, nothing written anywhere).
Retries wait XARES_RETRY_BACKOFF_S (set small here) except where the server says Retry-After.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from fake_records import MEL_ENCODER, TASK_FILES, build_record, build_records, task_config
from tiny_llm import tiny_llm

from xares import cli, run
from xares.acquire import READY_MARKER
from xares.data import zenodo
from xares.errors import DataError
from xares.report import load_results

pytestmark = pytest.mark.slow

TASKS = {path.stem.removesuffix("_task"): path for path in TASK_FILES}
CREMAD = TASKS["crema_d"]  # a flat record of three shards
GTZAN = TASKS["gtzan"]  # published here as one zip of ten shards
BOUNDED_METRICS = {"accuracy", "mAP", "segmentf1_macro", "segmentf1_micro", "recallatk_r1", "WER_inv"}


@pytest.fixture(autouse=True)
def _fast_and_wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XARES_RETRY_BACKOFF_S", "0.01")  # retries without Retry-After barely wait
    monkeypatch.setenv("COLUMNS", "1000")  # rich wraps at 80 columns otherwise; messages stay whole


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def check_score(result: dict, metric: str) -> None:
    assert result["status"] == "ok", result["error"]
    score = result["mlp_score"]
    assert isinstance(score, float) and math.isfinite(score), result
    if metric in BOUNDED_METRICS:
        assert 0.0 <= score <= 1.0, (metric, score)
    else:  # MSE (speechocean762): an error, lower is better
        assert score >= 0.0, (metric, score)
    if result["knn_score"] is not None:
        # Each class of a fake is its own tone, so nearest neighbours in log-mel space are always
        # right: a lower kNN score means labels and clips were separated somewhere on the way.
        assert result["knn_score"] == pytest.approx(1.0), result


@pytest.mark.parametrize("task_file", TASK_FILES, ids=list(TASKS))
def test_public_task_end_to_end(task_file: Path, zenodo_server, tmp_path: Path, monkeypatch) -> None:
    if task_file == TASKS["librispeech_asr"]:
        published_lm_here(tmp_path, monkeypatch)
    record = build_record(task_file, tmp_path)
    zenodo_server.add(record.record_id, record.files)
    env = tmp_path / "env"
    started = time.perf_counter()
    status = run.main(
        [
            str(MEL_ENCODER),
            str(task_file),
            "--env-root",
            str(env),
            "--zenodo-url",
            zenodo_server.url,
            "--results",
            str(tmp_path / "r.json"),
        ]
    )
    seconds = time.perf_counter() - started
    assert status == 0
    config = task_config(task_file, env)
    [result] = load_results(tmp_path / "r.json")["tasks"]
    assert result["name"] == config.name
    check_score(result, config.metric)
    # Stage 0 put the record's shards, under their published names, in the task directory.
    assert sorted(p.name for p in config.task_dir.glob("*.tar")) == record.shards[config.name]
    assert (config.task_dir / READY_MARKER).is_file()
    assert zenodo_server.hits[f"listing:{record.record_id}"] == 1
    assert all(zenodo_server.hits[f"file:{key}"] == 1 for key in record.files)
    print(f"\nE2E\t{config.name}\t{result['status']}\t{result['mlp_score']:.4f}\t{seconds:.2f}")


def published_lm_here(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The published ASR protocol reads Qwen/Qwen2.5-0.5B from the working directory, as upstream does:
    a tiny random one stands in for it there."""
    tiny_llm(directory / "Qwen" / "Qwen2.5-0.5B")
    monkeypatch.chdir(directory)


def test_shared_librispeech_record_is_fetched_once_through_a_subprocess(
    zenodo_server, tmp_path: Path, monkeypatch
) -> None:
    published_lm_here(tmp_path, monkeypatch)
    files = [TASKS["librispeech_asr"], TASKS["librispeech_male_female"]]
    [record] = build_records(files, tmp_path).values()
    assert sorted(record.tasks) == ["librispeech", "librispeechmalefemale"]
    zenodo_server.add(record.record_id, record.files)
    env = tmp_path / "env"
    command = [sys.executable, "-m", "xares.run", str(MEL_ENCODER), *map(str, files)]
    command += [
        "--env-root",
        str(env),
        "--zenodo-url",
        zenodo_server.url,
        "--results",
        str(tmp_path / "r.json"),
    ]
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=dict(os.environ),  # XARES_RETRY_BACKOFF_S and COLUMNS as set above
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = {t["name"]: t for t in load_results(tmp_path / "r.json")["tasks"]}
    check_score(results["librispeech"], "WER_inv")
    check_score(results["librispeechmalefemale"], "accuracy")
    assert zenodo_server.hits[f"listing:{record.record_id}"] == 1
    for key, data in record.files.items():
        assert zenodo_server.hits[f"file:{key}"] == 1, key  # one download serves both tasks
        for task in ("librispeech", "librispeechmalefemale"):
            assert (env / task / key).read_bytes() == data


# --- stage 0's faults, through `xares fetch` -------------------------------------------------------


def fetch(task_file: Path, env: Path, url: str) -> int:
    return cli.main(["fetch", "-q", str(task_file), "--env-root", str(env), "--zenodo-url", url])


def test_print_urls_lists_each_file_with_md5_and_size(zenodo_server, tmp_path: Path, capsys) -> None:
    record = build_record(CREMAD, tmp_path)
    zenodo_server.add(record.record_id, record.files)
    args = ["fetch", "--print-urls", str(CREMAD), "--env-root", str(tmp_path / "env")]
    assert cli.main([*args, "--zenodo-url", zenodo_server.url]) == 0
    printed = capsys.readouterr().out
    total = sum(len(data) for data in record.files.values()) / 1e6
    assert f"# cremad: Zenodo record 14646870, 3 files, {total:.2f} MB" in printed
    rows = [line.split() for line in printed.splitlines()[1:]]  # rich turns the tabs into spaces
    assert rows == [
        [
            f"{zenodo_server.url}/api/records/14646870/files/{key}/content",
            f"md5:{md5(data)}",
            f"{len(data) / 1e6:.2f}",
            "MB",
            str(tmp_path / "env" / "cremad" / key),
        ]
        for key, data in record.files.items()
    ]
    assert sum(v for k, v in zenodo_server.hits.items() if k.startswith("file:")) == 0  # nothing fetched


def test_fetch_waits_out_a_429_as_retry_after_says(zenodo_server, tmp_path: Path) -> None:
    record = build_record(CREMAD, tmp_path)
    zenodo_server.add(record.record_id, record.files)
    key = "wds-audio-train-000000.tar"
    zenodo_server.faults[key] = ["429"]
    zenodo_server.retry_after = "1"
    started = time.perf_counter()
    assert fetch(CREMAD, tmp_path / "env", zenodo_server.url) == 0
    assert time.perf_counter() - started >= 1.0  # the backoff is 0.01 s: only Retry-After explains it
    assert zenodo_server.hits[f"file:{key}"] == 2
    for name, data in record.files.items():
        assert (tmp_path / "env" / "cremad" / name).read_bytes() == data
    assert (tmp_path / "env" / "cremad" / READY_MARKER).is_file()


def test_fetch_resumes_a_dropped_connection_with_a_range_request(
    zenodo_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reads of 1 MiB: a read the dropped connection leaves unfilled is lost, so a tiny shard would be
    # restarted, not resumed. Small reads (as in test_zenodo.py) keep what arrived before the drop.
    monkeypatch.setattr(zenodo, "_CHUNK", 16384)
    record = build_record(CREMAD, tmp_path)
    zenodo_server.add(record.record_id, record.files)
    key = "wds-audio-train-000000.tar"
    zenodo_server.faults[key] = ["drop"]
    assert fetch(CREMAD, tmp_path / "env", zenodo_server.url) == 0
    first, second = zenodo_server.ranges[key]
    assert first is None
    assert second is not None and second.startswith("bytes=") and second != "bytes=0-"
    assert int(second.removeprefix("bytes=").rstrip("-")) < len(record.files[key])
    assert md5((tmp_path / "env" / "cremad" / key).read_bytes()) == md5(record.files[key])
    assert not list((tmp_path / "env").rglob("*.part"))


def test_fetch_refuses_a_file_with_the_wrong_checksum(zenodo_server, tmp_path: Path, capsys) -> None:
    record = build_record(CREMAD, tmp_path)
    zenodo_server.add(record.record_id, record.files)
    key = "wds-audio-train-000000.tar"
    zenodo_server.wrong_md5.add(key)  # the listing publishes an md5 the data does not have
    env = tmp_path / "env"
    assert fetch(CREMAD, env, zenodo_server.url) == 1
    message = " ".join(capsys.readouterr().out.split())
    assert key in message
    assert f"expected md5 {md5(b'not the data')}" in message
    assert f"found {md5(record.files[key])}" in message
    assert "was deleted" in message and "--print-urls" in message  # what happened, what to do
    assert zenodo_server.hits[f"file:{key}"] == 2  # one more full try before giving up
    assert not list(env.rglob(f"{key}*"))  # no corrupt copy, complete or partial, anywhere
    assert not (env / "cremad" / READY_MARKER).exists()


def _zip_with(shards: dict[str, bytes], name: str, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for key, data in shards.items():
            archive.writestr(key, data)
        archive.writestr(zipfile.ZipInfo(name), payload)
    return buffer.getvalue()


def _tar_gz_with_symlink(shards: dict[str, bytes], link_name: str, target: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for key, data in shards.items():
            info = tarfile.TarInfo(key)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo(link_name)
        link.type, link.linkname = tarfile.SYMTYPE, target
        archive.addfile(link)
        through = tarfile.TarInfo(f"{link_name}/escaped.txt")  # written through the link, if allowed
        through.size = 4
        archive.addfile(through, io.BytesIO(b"evil"))
    return buffer.getvalue()


@pytest.mark.parametrize("attack", ["zip-dotdot", "zip-absolute", "tar-symlink"])
def test_fetch_refuses_an_archive_with_a_malicious_member(
    attack: str, zenodo_server, tmp_path: Path, capsys
) -> None:
    record = build_record(GTZAN, tmp_path)
    with zipfile.ZipFile(io.BytesIO(record.files["gtzan_genre.zip"])) as good:
        shards = {name: good.read(name) for name in good.namelist()}
    if attack == "zip-dotdot":
        member, files = "../../escaped.txt", {"gtzan_genre.zip": _zip_with(shards, "../../escaped.txt", b"x")}
    elif attack == "zip-absolute":
        member = str(tmp_path / "escaped.txt")
        files = {"gtzan_genre.zip": _zip_with(shards, member, b"x")}
    else:
        member = "outside"
        files = {"gtzan_genre.tar.gz": _tar_gz_with_symlink(shards, member, "../..")}  # to tmp_path
    zenodo_server.add(record.record_id, files)
    env = tmp_path / "env"
    assert fetch(GTZAN, env, zenodo_server.url) == 1
    message = " ".join(capsys.readouterr().out.split())
    assert "refusing to extract" in message and repr(member) in message
    assert not [p for p in tmp_path.rglob("*escaped*")]  # nothing landed anywhere
    task_dir = env / "gtzan_genre"
    assert not list(task_dir.glob("*.tar")) and not (task_dir / READY_MARKER).exists()
    assert not [
        p for p in task_dir.iterdir() if p.is_symlink() or p.name.startswith(".gtzan_genre.extracting")
    ]
    assert not [p for p in env.iterdir() if ".extracting-" in p.name]  # the scratch directory is gone


def test_each_fake_record_is_json_faithful(tmp_path: Path) -> None:
    """Spot checks of the fakes themselves against the published formats (upstream-format.md (a))."""
    records = build_records(TASK_FILES, tmp_path)
    assert len(records) == len(TASK_FILES) - 1  # the two LibriSpeech tasks share record 14716252

    def first_json(record_files: dict[str, bytes], shard: str) -> object:
        with tarfile.open(fileobj=io.BytesIO(record_files[shard])) as tar:
            names = tar.getnames()
            assert len(names) % 2 == 0 and all(n.count(".") == 1 for n in names)  # <key>.<ext> pairs
            return json.loads(tar.extractfile(next(n for n in names if n.endswith(".json"))).read())

    fsd50k = first_json(records["14868441"].files, "fsd50k_train_0000000.tar")
    assert isinstance(fsd50k["soundevent"], str)
    desed = first_json(records["14808180"].files, "wds-audio-train-000000.tar")
    assert {"onset", "offset", "label"} == set(desed[0]) and "," in desed[1]["label"]
    maestro = first_json(records["14858022"].files, "maestro_train_0000000.tar")
    assert {"start", "end", "note"} == set(maestro[0]) and isinstance(maestro[0]["note"], int)
    clotho = first_json(records["14856454"].files, "clotho_development_0000000.tar")
    assert len(clotho) == 5 and all(isinstance(c, str) for c in clotho.values())
    libri = first_json(records["14716252"].files, "train-clean-100-000000.tar")
    assert set(libri) == {"speaker", "gender", "trans"} and libri["trans"].isupper()
    esc50 = first_json(records["14614287"].files, "wds-audio-fold-1-000000.tar")
    assert isinstance(esc50["label"], int)
    with tarfile.open(
        fileobj=io.BytesIO(records["14722453"].files["fluentspeechcommands_train_0000000.tar"])
    ) as t:
        transcriptions = {
            json.loads(t.extractfile(n).read())["transcription"] for n in t.getnames() if "json" in n
        }
    assert any("\u2019" in text for text in transcriptions)  # the typographic apostrophe, verbatim


def test_retry_backoff_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XARES_RETRY_BACKOFF_S", "0.25")
    assert zenodo.RetryPolicy().backoff_s == 0.25
    monkeypatch.delenv("XARES_RETRY_BACKOFF_S")
    assert zenodo.RetryPolicy().backoff_s == 1.0
    monkeypatch.setenv("XARES_RETRY_BACKOFF_S", "soon")
    with pytest.raises(DataError, match="XARES_RETRY_BACKOFF_S='soon' is not a number of seconds"):
        zenodo.RetryPolicy()
