"""fetch_record against the local stand-in, for the faults of issue 15 (items 2-8).

No fixture shrinks the read size here: the code reads the way it does in production.
"""

from __future__ import annotations

import hashlib
import logging
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
