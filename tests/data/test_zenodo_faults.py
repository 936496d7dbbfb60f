"""fetch_record against the local stand-in, for the faults of issue 15 (items 2-8).

No fixture shrinks the read size here: the code reads the way it does in production.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest

from xares.data.zenodo import RetryPolicy, fetch_record
from xares.errors import DataError

RECORD = "1515"


def payload(n: int, seed: int = 0) -> bytes:
    return hashlib.shake_256(f"{seed}".encode()).digest(n)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def policy(sleeps: list[float], **kwargs) -> RetryPolicy:
    return RetryPolicy(**{"attempts": 3, "backoff_s": 0.5, "sleep": sleeps.append, **kwargs})


def fetch(zenodo_server, tmp_path: Path, retry: RetryPolicy) -> list[Path]:
    return fetch_record(
        RECORD,
        tmp_path / "task",
        cache_dir=tmp_path / "cache",
        base_url=zenodo_server.url,
        progress=False,
        retry=retry,
    )


# --- item 2: every received byte is kept -----------------------------------------------------------


def test_a_server_that_drops_more_often_than_once_a_mebibyte_still_completes(zenodo_server, tmp_path, sleeps):
    data = payload(3_600_000)
    zenodo_server.add(RECORD, {"big.tar": data})
    zenodo_server.faults["big.tar"] = ["cut:750000"] * 5  # four answers of 750 kB each, then the rest
    (placed,) = fetch(zenodo_server, tmp_path, policy(sleeps))  # 3 tries without progress would be fatal
    assert placed.read_bytes() == data
    assert zenodo_server.ranges["big.tar"] == [None] + [f"bytes={750000 * k}-" for k in range(1, 5)]


def test_a_file_under_a_mebibyte_resumes_where_the_connection_broke(zenodo_server, tmp_path, sleeps):
    data = payload(200_000, seed=1)
    zenodo_server.add(RECORD, {"small.tar": data})
    zenodo_server.faults["small.tar"] = ["cut:123457"]
    (placed,) = fetch(zenodo_server, tmp_path, policy(sleeps))
    assert placed.read_bytes() == data
    assert zenodo_server.ranges["small.tar"] == [None, "bytes=123457-"]


def test_tries_that_bring_bytes_do_not_count_against_the_budget(zenodo_server, tmp_path, sleeps):
    data = payload(100_000, seed=2)
    zenodo_server.add(RECORD, {"a.tar": data})
    # attempts=2: two tries in a row without progress are fatal, but ten that each bring 9 kB are not.
    zenodo_server.faults["a.tar"] = ["cut:9000"] * 10
    (placed,) = fetch(zenodo_server, tmp_path, policy(sleeps, attempts=2))
    assert placed.read_bytes() == data
    assert len(zenodo_server.ranges["a.tar"]) == 11


def test_tries_without_progress_still_run_out(zenodo_server, tmp_path, sleeps):
    zenodo_server.add(RECORD, {"a.tar": payload(50_000)})
    zenodo_server.faults["a.tar"] = ["cut:1000"] + ["cut:0"] * 5
    with pytest.raises(DataError, match="3 times in a row"):
        fetch(zenodo_server, tmp_path, policy(sleeps))
    part = tmp_path / "cache" / RECORD / "a.tar.part"
    assert part.stat().st_size == 1000  # what arrived is kept for the next run


# --- item 3: Retry-After is honoured beyond 120 s, up to a ceiling the user can raise --------------


def test_a_retry_after_of_300_s_is_waited_in_full_and_said(zenodo_server, tmp_path, sleeps, caplog):
    zenodo_server.add(RECORD, {"a.tar": payload(5000)})
    zenodo_server.faults["a.tar"] = ["429"]
    zenodo_server.retry_after = "300"
    with caplog.at_level(logging.WARNING, logger="xares.data.zenodo"):
        fetch(zenodo_server, tmp_path, policy(sleeps))
    assert sleeps == [300.0]
    said = caplog.text
    assert "300 s" in said and "Retry-After" in said and "until" in said, said


def test_a_retry_after_beyond_the_ceiling_fails_at_once_and_names_the_knob(zenodo_server, tmp_path, sleeps):
    zenodo_server.add(RECORD, {"a.tar": payload(5000)})
    zenodo_server.faults[RECORD] = ["429"]
    zenodo_server.retry_after = "7200"
    with pytest.raises(DataError) as info:
        fetch(zenodo_server, tmp_path, policy(sleeps, max_retry_after_s=3600))
    message = str(info.value)
    assert "7200 s" in message and "3600 s" in message and "--max-retry-after" in message, message
    assert "XARES_MAX_RETRY_AFTER_S" in message
    assert sleeps == []  # never asked again before the server said so
    assert zenodo_server.hits[f"listing:{RECORD}"] == 1


def test_the_ceiling_can_be_raised(zenodo_server, tmp_path, sleeps, monkeypatch):
    zenodo_server.add(RECORD, {"a.tar": payload(5000)})
    zenodo_server.faults["a.tar"] = ["429"]
    zenodo_server.retry_after = "7200"
    monkeypatch.setenv("XARES_MAX_RETRY_AFTER_S", "10000")
    fetch(zenodo_server, tmp_path, policy(sleeps))
    assert sleeps == [7200.0]


def test_a_ceiling_that_is_not_a_number_is_refused(monkeypatch):
    monkeypatch.setenv("XARES_MAX_RETRY_AFTER_S", "soon")
    with pytest.raises(DataError, match="XARES_MAX_RETRY_AFTER_S"):
        RetryPolicy()


# --- item 4: every 5xx, and 408/425/429, is retried --------------------------------------------------


@pytest.mark.parametrize("status", ["408", "425", "429", "500", "501", "507", "520", "522", "524", "599"])
def test_transient_statuses_are_retried(zenodo_server, tmp_path, sleeps, status):
    zenodo_server.retry_after = "0"
    zenodo_server.add(RECORD, {"a.tar": payload(5000)})
    zenodo_server.faults["a.tar"] = [status]
    zenodo_server.faults[RECORD] = [status]
    (placed,) = fetch(zenodo_server, tmp_path, policy(sleeps))
    assert placed.read_bytes() == payload(5000)
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", ["400", "403", "451"])
def test_other_4xx_are_final(zenodo_server, tmp_path, sleeps, status):
    zenodo_server.add(RECORD, {"a.tar": payload(5000)})
    zenodo_server.faults["a.tar"] = [status]
    with pytest.raises(DataError, match=f"HTTP {status}"):
        fetch(zenodo_server, tmp_path, policy(sleeps))
    assert sleeps == []


# --- item 8: read timeout, hostile-archive advice, markers with the umask's mode ------------------


def test_the_read_timeout_is_a_setting_and_its_expiry_names_it(zenodo_server, tmp_path, sleeps):
    zenodo_server.add(RECORD, {"a.tar": payload(5000)})
    zenodo_server.faults["a.tar"] = ["sleep:1.5", "sleep:1.5", "sleep:1.5"]
    with pytest.raises(DataError) as info:
        fetch(zenodo_server, tmp_path, policy(sleeps, read_timeout_s=0.3))
    message = str(info.value)
    assert "0.3 s" in message and "--read-timeout" in message, message
    assert "rate" not in message.lower()
    zenodo_server.faults["a.tar"] = ["sleep:1.5"]
    (placed,) = fetch(zenodo_server, tmp_path, policy(sleeps, read_timeout_s=10))
    assert placed.read_bytes() == payload(5000)


def test_the_read_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("XARES_READ_TIMEOUT_S", "250")
    assert RetryPolicy().read_timeout_s == 250.0
    monkeypatch.setenv("XARES_READ_TIMEOUT_S", "-1")
    with pytest.raises(DataError, match="XARES_READ_TIMEOUT_S"):
        RetryPolicy()


def test_a_hostile_archive_is_refused_with_advice_that_can_help(zenodo_server, tmp_path, sleeps):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train-000000.tar", b"fine")
        archive.writestr("../../escaped.txt", b"evil")
    zenodo_server.add(RECORD, {"shards.zip": buffer.getvalue()})
    with pytest.raises(DataError) as info:
        fetch(zenodo_server, tmp_path, policy(sleeps))
    message = " ".join(str(info.value).split())
    assert "'../../escaped.txt'" in message and "shards.zip" in message, message
    assert "cannot help" in message and "same bytes" in message, message
    assert "fetch it again" not in message.lower()
    assert not (tmp_path / "escaped.txt").exists() and not list((tmp_path / "task").iterdir())


@pytest.fixture
def group_umask():
    old = os.umask(0o002)
    try:
        yield 0o002
    finally:
        os.umask(old)


def test_cache_markers_and_locks_get_the_umasks_mode(zenodo_server, tmp_path, sleeps, group_umask):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("valid-000000.tar")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"data"))
    zenodo_server.add(RECORD, {"train-000000.tar": payload(3000), "more.tar.gz": buffer.getvalue()})
    fetch(zenodo_server, tmp_path, policy(sleeps))
    cache = tmp_path / "cache"
    written = [
        cache / RECORD / ".record.json",
        cache / RECORD / ".train-000000.tar.verified",
        cache / RECORD / ".more.tar.gz.verified",
        tmp_path / "task" / ".more.tar.gz.extracted.json",
        cache / f"{RECORD}.lock",
    ]
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in written}
    assert set(modes.values()) == {oct(0o664)}, modes


# --- more server behaviours of the scenario table --------------------------------------------------


def test_redirects_are_followed_for_the_listing_and_a_file(zenodo_server, tmp_path, sleeps):
    zenodo_server.add(RECORD, {"a.tar": payload(70_000)})
    zenodo_server.faults[RECORD] = ["redirect"]
    zenodo_server.faults["a.tar"] = ["redirect"]
    (placed,) = fetch(zenodo_server, tmp_path, policy(sleeps))
    assert placed.read_bytes() == payload(70_000) and sleeps == []
    assert zenodo_server.hits["file:a.tar"] == 2  # the 302, then the file


def test_a_listing_that_is_an_html_page_is_named_for_what_it_is(zenodo_server, tmp_path, sleeps):
    zenodo_server.add(RECORD, {"a.tar": payload(100)})
    zenodo_server.faults[RECORD] = ["html"]
    with pytest.raises(DataError, match=r"did not answer with JSON.*a Zenodo server\?"):
        fetch(zenodo_server, tmp_path, policy(sleeps))
    assert not (tmp_path / "cache" / RECORD / ".record.json").exists()  # nothing cached from it
