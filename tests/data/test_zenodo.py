"""fetch_record against a real local HTTP server that answers like Zenodo (see conftest.py)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from xares.data import zenodo
from xares.data.zenodo import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    RecordFile,
    RetryPolicy,
    fetch_record,
    list_record_files,
    manual_instructions,
    resolve_base_url,
)
from xares.errors import DataError

RECORD = "1234567"


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small reads, so a connection dropped half way through a small test file leaves a partial file."""
    monkeypatch.setattr(zenodo, "_CHUNK", 4096)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def retry(sleeps: list[float]) -> RetryPolicy:
    """No real waiting: the policy records each sleep instead."""
    return RetryPolicy(attempts=4, backoff_s=0.5, sleep=sleeps.append)


def payload(n: int, seed: int = 0) -> bytes:
    return bytes((i * 31 + seed * 7 + i // 251) % 256 for i in range(n))


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def shard(name: str) -> bytes:
    """A small webdataset-style tar, as bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for member, data in ((f"{name}.wav", payload(5000)), (f"{name}.json", b'{"label": "dog"}')):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def fetch(zenodo_server, tmp_path: Path, retry: RetryPolicy, dest: str = "task", **kwargs) -> list[Path]:
    return fetch_record(
        RECORD,
        tmp_path / dest,
        cache_dir=tmp_path / "cache",
        base_url=zenodo_server.url,
        progress=False,
        retry=retry,
        **kwargs,
    )


def assert_nothing_partial(tmp_path: Path) -> None:
    leftovers = [
        p for p in tmp_path.rglob("*") if p.name.endswith((".part", ".tmp")) or "extracting" in p.name
    ]
    assert leftovers == []


# --- base URL and listing -------------------------------------------------------------------------


def test_base_url_argument_beats_environment_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BASE_URL_ENV, raising=False)
    assert resolve_base_url() == DEFAULT_BASE_URL
    monkeypatch.setenv(BASE_URL_ENV, "http://mirror.example:8080/")
    assert resolve_base_url() == "http://mirror.example:8080"
    assert resolve_base_url("https://other.example") == "https://other.example"


def test_base_url_that_is_not_http_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_URL_ENV, "zenodo.org")
    with pytest.raises(DataError, match=BASE_URL_ENV):
        resolve_base_url()


def test_list_record_files_reads_key_size_md5_and_url(zenodo_server, retry: RetryPolicy) -> None:
    zenodo_server.add(RECORD, {"train-000000.tar": b"abc", "notes.txt": b"hello"})
    files = list_record_files(RECORD, base_url=zenodo_server.url, retry=retry)
    assert files == [
        RecordFile(
            "train-000000.tar",
            3,
            md5(b"abc"),
            f"{zenodo_server.url}/api/records/{RECORD}/files/train-000000.tar/content",
        ),
        RecordFile(
            "notes.txt", 5, md5(b"hello"), f"{zenodo_server.url}/api/records/{RECORD}/files/notes.txt/content"
        ),
    ]


def test_unknown_record_says_so(zenodo_server, tmp_path: Path, retry: RetryPolicy) -> None:
    with pytest.raises(DataError, match=f"no record {RECORD}.*zenodo_id"):
        fetch(zenodo_server, tmp_path, retry)


@pytest.mark.parametrize("bad", ["", "../1", "12/34", "a b"])
def test_malformed_record_id_is_refused(bad: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not valid"):
        fetch_record(bad, tmp_path / "task", cache_dir=tmp_path / "cache", progress=False)


def test_file_key_that_is_a_path_is_refused(zenodo_server, tmp_path: Path, retry: RetryPolicy) -> None:
    zenodo_server.add(RECORD, {"../evil.tar": b"x"})
    with pytest.raises(DataError, match="cannot be stored safely"):
        fetch(zenodo_server, tmp_path, retry)
    assert not (tmp_path / "evil.tar").exists()


def test_manual_instructions_name_url_md5_and_place(
    zenodo_server, tmp_path: Path, retry: RetryPolicy
) -> None:
    zenodo_server.add(RECORD, {"a.tar": b"aaa"})
    [(url, digest, where, size)] = manual_instructions(
        RECORD, tmp_path / "task", base_url=zenodo_server.url, retry=retry
    )
    assert url.endswith(f"/api/records/{RECORD}/files/a.tar/content")
    assert digest == md5(b"aaa")
    assert where == tmp_path / "task" / "a.tar"
    assert size == 3


# --- the happy path, caching, placement -----------------------------------------------------------


def test_shards_are_verified_cached_and_hard_linked(
    zenodo_server, tmp_path: Path, retry: RetryPolicy
) -> None:
    files = {"train-000000.tar": shard("a"), "test-000000.tar": shard("b")}
    zenodo_server.add(RECORD, files)
    placed = fetch(zenodo_server, tmp_path, retry)
    assert placed == [tmp_path / "task" / key for key in files]
    for key, data in files.items():
        assert (tmp_path / "task" / key).read_bytes() == data
        assert os.path.samefile(tmp_path / "cache" / RECORD / key, tmp_path / "task" / key)
    assert_nothing_partial(tmp_path)


def test_second_fetch_does_no_network_io_even_for_another_task(
    zenodo_server, tmp_path: Path, retry: RetryPolicy
) -> None:
    zenodo_server.add(RECORD, {"train-000000.tar": payload(10_000), "valid-000000.tar": payload(3000, 1)})
    first = fetch(zenodo_server, tmp_path, retry)
    hits = dict(zenodo_server.hits)
    assert hits == {f"listing:{RECORD}": 1, "file:train-000000.tar": 1, "file:valid-000000.tar": 1}
    assert fetch(zenodo_server, tmp_path, retry) == first
    other = fetch(zenodo_server, tmp_path, retry, dest="other_task")  # a second task on the same record
    assert [p.read_bytes() for p in other] == [p.read_bytes() for p in first]
    assert dict(zenodo_server.hits) == hits


def test_archives_are_extracted_once(zenodo_server, tmp_path: Path, retry: RetryPolicy, monkeypatch) -> None:
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("train-000000.tar", b"zip shard")
    gzipped = io.BytesIO()
    with tarfile.open(fileobj=gzipped, mode="w:gz") as tar:
        info = tarfile.TarInfo("test-000000.tar")
        info.size = 9
        tar.addfile(info, io.BytesIO(b"tgz shard"))
    zenodo_server.add(RECORD, {"part1.zip": zipped.getvalue(), "part2.tar.gz": gzipped.getvalue()})
    task = tmp_path / "task"
    placed = fetch(zenodo_server, tmp_path, retry)
    assert placed == [task / "train-000000.tar", task / "test-000000.tar"]
    assert (task / "train-000000.tar").read_bytes() == b"zip shard"
    assert (task / "test-000000.tar").read_bytes() == b"tgz shard"
    assert not (task / "part1.zip").exists()  # the archive stays in the cache only

    def boom(*args, **kwargs):
        raise AssertionError("extracted a second time")

    monkeypatch.setattr(zenodo, "safe_extract", boom)
    assert fetch(zenodo_server, tmp_path, retry) == placed


def test_progress_bars_do_not_disturb_the_download(zenodo_server, tmp_path: Path, retry: RetryPolicy) -> None:
    zenodo_server.add(RECORD, {"train-000000.tar": payload(20_000)})
    [path] = fetch_record(
        RECORD,
        tmp_path / "task",
        cache_dir=tmp_path / "cache",
        base_url=zenodo_server.url,
        progress=True,
        retry=retry,
    )
    assert path.read_bytes() == payload(20_000)


def test_base_url_from_environment_is_used(
    zenodo_server, tmp_path: Path, retry: RetryPolicy, monkeypatch
) -> None:
    zenodo_server.add(RECORD, {"a.tar": b"aaa"})
    monkeypatch.setenv(BASE_URL_ENV, zenodo_server.url)
    [path] = fetch_record(
        RECORD, tmp_path / "task", cache_dir=tmp_path / "cache", progress=False, retry=retry
    )
    assert path.read_bytes() == b"aaa"


def test_a_lost_marker_costs_a_hash_not_a_download(zenodo_server, tmp_path: Path, retry: RetryPolicy) -> None:
    zenodo_server.add(RECORD, {"a.tar": payload(5000)})
    fetch(zenodo_server, tmp_path, retry)
    (tmp_path / "cache" / RECORD / ".a.tar.verified").unlink()
    fetch(zenodo_server, tmp_path, retry)
    assert zenodo_server.hits["file:a.tar"] == 1
    assert (tmp_path / "cache" / RECORD / ".a.tar.verified").is_file()


def test_a_file_placed_by_hand_is_checked_and_used(zenodo_server, tmp_path: Path, retry: RetryPolicy) -> None:
    data = payload(5000)
    zenodo_server.add(RECORD, {"a.tar": data})
    (tmp_path / "task").mkdir()
    (tmp_path / "task" / "a.tar").write_bytes(data)
    [path] = fetch(zenodo_server, tmp_path, retry)
    assert path.read_bytes() == data
    assert zenodo_server.hits["file:a.tar"] == 0


def test_a_wrong_file_placed_by_hand_is_replaced(zenodo_server, tmp_path: Path, retry: RetryPolicy) -> None:
    zenodo_server.add(RECORD, {"a.tar": payload(5000)})
    (tmp_path / "task").mkdir()
    (tmp_path / "task" / "a.tar").write_bytes(b"junk")
    [path] = fetch(zenodo_server, tmp_path, retry)
    assert path.read_bytes() == payload(5000)
    assert zenodo_server.hits["file:a.tar"] == 1


# --- faults ---------------------------------------------------------------------------------------


def test_429_is_retried_after_the_servers_retry_after(
    zenodo_server, tmp_path: Path, retry: RetryPolicy, sleeps: list[float]
) -> None:
    zenodo_server.add(RECORD, {"a.tar": payload(5000)})
    zenodo_server.faults["a.tar"] = ["429"]
    zenodo_server.faults[RECORD] = ["429"]  # the listing too
    [path] = fetch(zenodo_server, tmp_path, retry)
    assert path.read_bytes() == payload(5000)
    assert sleeps == [3.0, 3.0]


def test_retry_after_as_an_http_date_in_the_past_means_now(
    zenodo_server, tmp_path: Path, retry: RetryPolicy, sleeps: list[float]
) -> None:
    zenodo_server.add(RECORD, {"a.tar": payload(5000)})
    zenodo_server.faults["a.tar"] = ["429"]
    zenodo_server.retry_after = "Wed, 21 Oct 2015 07:28:00 GMT"
    fetch(zenodo_server, tmp_path, retry)
    assert sleeps == [0.0]


def test_empty_file_is_fetched(zenodo_server, tmp_path: Path, retry: RetryPolicy) -> None:
    zenodo_server.add(RECORD, {"empty.txt": b"", "a.tar": b"a"})
    placed = fetch(zenodo_server, tmp_path, retry)
    assert [p.read_bytes() for p in placed] == [b"", b"a"]


def test_503_is_retried_with_exponential_backoff(
    zenodo_server, tmp_path: Path, retry: RetryPolicy, sleeps: list[float]
) -> None:
    zenodo_server.add(RECORD, {"a.tar": payload(5000)})
    zenodo_server.faults["a.tar"] = ["503", "503", "503"]
    [path] = fetch(zenodo_server, tmp_path, retry)
    assert path.read_bytes() == payload(5000)
    assert sleeps == [0.5, 1.0, 2.0]


def test_persistent_503_gives_up_with_advice(
    zenodo_server, tmp_path: Path, retry: RetryPolicy, sleeps: list[float]
) -> None:
    zenodo_server.add(RECORD, {"a.tar": payload(5000)})
    zenodo_server.faults["a.tar"] = ["503"] * 10
    with pytest.raises(DataError) as info:
        fetch(zenodo_server, tmp_path, retry)
    message = str(info.value)
    assert "failed 4 times" in message and "HTTP 503" in message
    assert "--print-urls" in message and str(tmp_path / "task" / "a.tar") in message
    assert zenodo_server.hits["file:a.tar"] == 4
    assert len(sleeps) == 3


def test_unreachable_server_gives_up(tmp_path: Path, retry: RetryPolicy, sleeps: list[float]) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DataError, match="listing record .* failed 4 times"):
        list_record_files(RECORD, base_url=f"http://127.0.0.1:{port}", retry=retry)
    assert len(sleeps) == 3


def test_dropped_connection_is_resumed_with_range(zenodo_server, tmp_path: Path, retry: RetryPolicy) -> None:
    data = payload(100_000)
    zenodo_server.add(RECORD, {"a.tar": data})
    zenodo_server.faults["a.tar"] = ["drop"]
    [path] = fetch(zenodo_server, tmp_path, retry)
    assert md5(path.read_bytes()) == md5(data)
    first, second = zenodo_server.ranges["a.tar"]
    assert first is None
    assert second is not None and second.startswith("bytes=") and second != "bytes=0-"
    assert_nothing_partial(tmp_path)


def test_partial_file_from_an_earlier_run_is_resumed(
    zenodo_server, tmp_path: Path, retry: RetryPolicy
) -> None:
    data = payload(50_000)
    zenodo_server.add(RECORD, {"a.tar": data})
    (tmp_path / "cache" / RECORD).mkdir(parents=True)
    (tmp_path / "cache" / RECORD / "a.tar.part").write_bytes(data[:20_000])
    [path] = fetch(zenodo_server, tmp_path, retry)
    assert path.read_bytes() == data
    assert zenodo_server.ranges["a.tar"] == ["bytes=20000-"]


def test_server_that_ignores_range_is_handled_by_restarting(
    zenodo_server, tmp_path: Path, retry: RetryPolicy
) -> None:
    data = payload(100_000)
    zenodo_server.add(RECORD, {"a.tar": data})
    zenodo_server.faults["a.tar"] = ["drop", "ignore_range"]
    [path] = fetch(zenodo_server, tmp_path, retry)
    assert path.read_bytes() == data
    assert len(zenodo_server.ranges["a.tar"]) == 2 and zenodo_server.ranges["a.tar"][1] is not None


def test_one_corrupt_download_is_deleted_and_retried(
    zenodo_server, tmp_path: Path, retry: RetryPolicy
) -> None:
    zenodo_server.add(RECORD, {"a.tar": payload(5000)})
    zenodo_server.faults["a.tar"] = ["corrupt"]
    [path] = fetch(zenodo_server, tmp_path, retry)
    assert path.read_bytes() == payload(5000)
    assert zenodo_server.hits["file:a.tar"] == 2


def test_md5_mismatch_every_time_is_a_clear_error_and_leaves_nothing(
    zenodo_server, tmp_path: Path, retry: RetryPolicy
) -> None:
    data = payload(5000)
    zenodo_server.add(RECORD, {"a.tar": data})
    zenodo_server.wrong_md5.add("a.tar")
    with pytest.raises(DataError) as info:
        fetch(zenodo_server, tmp_path, retry)
    message = str(info.value)
    advertised = md5(b"not the data")
    assert f"expected md5 {advertised}" in message
    assert f"found {md5(data)}" in message
    assert f"{tmp_path / 'cache' / RECORD / 'a.tar.part'} was deleted" in message
    assert "--print-urls" in message and "/files/a.tar/content" in message
    assert str(tmp_path / "task" / "a.tar") in message
    assert zenodo_server.hits["file:a.tar"] == retry.hash_attempts
    assert sorted(p.name for p in (tmp_path / "cache" / RECORD).iterdir()) == [".record.json"]
    assert list((tmp_path / "task").iterdir()) == []


def test_http_404_on_a_file_is_final(zenodo_server, tmp_path: Path, retry: RetryPolicy, sleeps) -> None:
    zenodo_server.add(RECORD, {"a.tar": b"abc"})
    listing = zenodo_server.listing
    zenodo_server.listing = lambda rid: {  # type: ignore[method-assign]
        "files": [dict(listing(rid)["files"][0], links={"self": f"{zenodo_server.url}/nowhere"})]
    }
    with pytest.raises(DataError, match="HTTP 404.*download it by hand"):
        fetch(zenodo_server, tmp_path, retry)
    assert sleeps == []


# --- concurrency ----------------------------------------------------------------------------------


def test_two_concurrent_fetches_download_each_file_once(
    zenodo_server, tmp_path: Path, retry: RetryPolicy
) -> None:
    files = {"train-000000.tar": payload(30_000), "test-000000.tar": payload(20_000, 3)}
    zenodo_server.add(RECORD, files)
    zenodo_server.faults["train-000000.tar"] = ["slow"]  # keeps the first fetch busy while the second starts
    results: dict[str, list[Path]] = {}
    errors: list[BaseException] = []

    def run(dest: str) -> None:
        try:
            results[dest] = fetch(zenodo_server, tmp_path, retry, dest=dest)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(dest,)) for dest in ("task_a", "task_b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert dict(zenodo_server.hits) == {
        f"listing:{RECORD}": 1,
        "file:train-000000.tar": 1,
        "file:test-000000.tar": 1,
    }
    for dest in ("task_a", "task_b"):
        assert {p.name: p.read_bytes() for p in results[dest]} == files
