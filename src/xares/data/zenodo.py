"""Fetch the files of a Zenodo record: checksummed, resumable, retried, locked, cached once.

Upstream downloads each record as one zip and trusts whatever arrives. Here every file of the record
is fetched on its own and checked against the md5 that Zenodo publishes, so a broken transfer costs
one file, not the whole record, and is noticed at once.

Cache layout (shared by every task: a record used by two tasks is downloaded once)::

    <cache_dir>/<record_id>.lock              per-record lock (filelock), so two processes never race
    <cache_dir>/<record_id>/.record.json      the record's file list (records are immutable)
    <cache_dir>/<record_id>/<key>.part        an interrupted download, resumed with an HTTP Range request
    <cache_dir>/<record_id>/<key>             a verified file
    <cache_dir>/<record_id>/.<key>.verified   its marker (size, md5, url), written atomically after the check

Files then reach the task directory: `.tar` shards (and other plain files) are hard-linked, or copied
where links are impossible; `.zip`/`.tar.*` archives are extracted with `safe_extract`, and a marker
`.<key>.extracted.json` in the task directory lists what they gave so the next call skips them.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import requests
import urllib3

from xares.atomic import write_json_atomic
from xares.data.extract import TAR_SUFFIXES, ZIP_SUFFIXES, safe_extract
from xares.data.locks import announced_lock
from xares.errors import DataError
from xares.faults import failpoint

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://zenodo.org"
BASE_URL_ENV = "XARES_ZENODO_URL"  # environment variable that overrides the base URL
BACKOFF_ENV = "XARES_RETRY_BACKOFF_S"  # environment variable: first retry wait in seconds (default 1)
MAX_RETRY_AFTER_ENV = "XARES_MAX_RETRY_AFTER_S"  # the longest Retry-After honoured (default 3600 s)
READ_TIMEOUT_ENV = "XARES_READ_TIMEOUT_S"  # the longest silence of a server mid-answer (default 60 s)
LONG_WAIT_S = 30.0  # a wait at least this long is announced with the time it ends

# Statuses worth asking again: timeouts, rate limiting, and every server-side trouble (5xx, including
# the 52x that CDNs such as Cloudflare send for an origin that is down); every other 4xx is final.
RETRY_STATUSES = frozenset({408, 425, 429, *range(500, 600)})
ARCHIVE_SUFFIXES = tuple(s for s in ZIP_SUFFIXES + TAR_SUFFIXES if s != ".tar")

_CHUNK = 1 << 20
# What a broken transfer raises: requests' own errors, and urllib3's from reading the raw body.
_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    OSError,
)
_RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_LISTING = ".record.json"


class ServerUnreachable(DataError):
    """The record's listing could not be had: no connection, no answer, or failures until the tries ran out.

    Stage 0 then still accepts shards placed by hand (unverified) instead of failing outright.
    """


@dataclass(frozen=True)
class RecordFile:
    """One file of a Zenodo record, as its API lists it (md5 as bare lower-case hex)."""

    key: str
    size: int
    md5: str
    url: str


def seconds_from_env(name: str, default: float) -> float:
    """A number of seconds >= 0 from environment variable `name`; `default` when unset or empty."""
    value = os.environ.get(name, "").strip()
    try:
        seconds = float(value) if value else default
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise DataError(f"${name}={value!r} is not a number of seconds >= 0; unset it or fix it.")
    return seconds


def _read_timeout_from_env() -> float:
    seconds = seconds_from_env(READ_TIMEOUT_ENV, 60.0)
    if seconds <= 0:
        raise DataError(f"${READ_TIMEOUT_ENV}={seconds:g}: a read timeout must be more than 0 s.")
    return seconds


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up; tests pass `sleep` and `backoff_s` to run without waiting.

    attempts: tries in a row without progress before a transient failure (429, 5xx, dropped
    connection) becomes an error; a try that brings new bytes does not count and resets the count, so
    a large file on a flaky line still completes. Our own wait doubles each time from `backoff_s` and
    never exceeds `max_wait_s`. A server's Retry-After is honoured in full up to `max_retry_after_s`
    (asking again earlier only earns another refusal); one beyond it is an error at once that says
    how to raise the ceiling. hash_attempts: full downloads of a file before an md5 mismatch becomes
    an error (a stale partial file from an older run costs one extra download).
    read_timeout_s: the longest a server may stay silent while answering (a slow mirror or a
    congested link needs more than the default 60 s).
    backoff_s defaults to $XARES_RETRY_BACKOFF_S when set, max_retry_after_s to
    $XARES_MAX_RETRY_AFTER_S, read_timeout_s to $XARES_READ_TIMEOUT_S (all read when the policy is
    made), so the command line can be run against a flaky test server without waiting, a patient user
    can wait out a long ban, and a slow server can be given time.
    """

    attempts: int = 5
    backoff_s: float = field(default_factory=partial(seconds_from_env, BACKOFF_ENV, 1.0))
    max_wait_s: float = 120.0
    max_retry_after_s: float = field(default_factory=partial(seconds_from_env, MAX_RETRY_AFTER_ENV, 3600.0))
    hash_attempts: int = 2
    connect_timeout_s: float = 15.0
    read_timeout_s: float = field(default_factory=_read_timeout_from_env)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)


def resolve_base_url(base_url: str | None = None) -> str:
    """The Zenodo server to talk to: the argument, else $XARES_ZENODO_URL, else https://zenodo.org.

    Overridable so a mirror, a proxy or a local test server can stand in for Zenodo.
    """
    chosen = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    chosen = chosen.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", chosen):
        source = "the base_url argument" if base_url else f"${BASE_URL_ENV}"
        raise DataError(
            f"Zenodo base URL {chosen!r} (from {source}) is not an http(s) URL. "
            f"Use something like {DEFAULT_BASE_URL!r}, or unset {BASE_URL_ENV}."
        )
    return chosen


def base_url_source(base_url: str | None = None) -> str:
    """Where the base URL `resolve_base_url(base_url)` gives comes from, in the words of the command line."""
    if base_url:
        return "--zenodo-url (the base_url argument)"
    if os.environ.get(BASE_URL_ENV):
        return f"${BASE_URL_ENV}"
    return f"the default (--zenodo-url or ${BASE_URL_ENV} choose another server)"


def list_record_files(
    record_id: str, *, base_url: str | None = None, retry: RetryPolicy | None = None
) -> list[RecordFile]:
    """Ask Zenodo which files record `record_id` holds, with their sizes, md5s and download URLs."""
    record_id = _check_record_id(record_id)
    base = resolve_base_url(base_url)
    with http_session() as session:
        return _list(session, record_id, base, retry or RetryPolicy(), base_url_source(base_url))


def manual_instructions(
    record_id: str, dest_dir: Path, *, base_url: str | None = None, retry: RetryPolicy | None = None
) -> list[tuple[str, str, Path, int]]:
    """(url, md5, where to put it, size in bytes) for each file of the record, for `xares fetch --print-urls`.

    A file placed at that path by hand is checked against its md5 and used by the next fetch_record
    call instead of being downloaded (archives are then extracted as usual).
    """
    return [
        (f.url, f.md5, Path(dest_dir) / f.key, f.size)
        for f in list_record_files(record_id, base_url=base_url, retry=retry)
    ]


def fetch_record(
    record_id: str,
    dest_dir: Path,
    *,
    cache_dir: Path,
    base_url: str | None = None,
    progress: bool = True,
    retry: RetryPolicy | None = None,
    check_listing: Callable[[list[RecordFile]], None] | None = None,
) -> list[Path]:
    """Download every file of the record into the shared cache, verify it, and place it in `dest_dir`.

    check_listing: called with the record's files before anything is downloaded; it raises to stop
    (stage 0 refuses a record that lacks a split's shard before spending the download on the rest).

    Idempotent: files whose verified marker is in the cache cost no network I/O, and the record's file
    list is cached too, so a second call on a complete record does not touch the network at all.
    Returns the paths placed in `dest_dir` (for archives, the files they held), in record order.
    """
    record_id = _check_record_id(record_id)
    dest_dir, cache_dir = Path(dest_dir), Path(cache_dir)
    policy = retry or RetryPolicy()
    base = resolve_base_url(base_url)
    record_dir = cache_dir / record_id
    record_dir.mkdir(parents=True, exist_ok=True)
    dest_dir.mkdir(parents=True, exist_ok=True)

    lock = announced_lock(cache_dir / f"{record_id}.lock", f"Zenodo record {record_id}")
    with lock, contextlib.ExitStack() as stack:
        sessions: list[requests.Session] = []

        def session() -> requests.Session:  # opened only when something must be downloaded
            if not sessions:
                sessions.append(stack.enter_context(http_session()))
            return sessions[0]

        files = _cached_listing(record_dir, base)
        if files is None:
            files = _list(session(), record_id, base, policy, base_url_source(base_url))
            write_json_atomic(record_dir / _LISTING, {"base_url": base, "files": [asdict(f) for f in files]})
        if check_listing is not None:
            check_listing(files)
        missing = [
            f for f in files if not _is_verified(record_dir, f) and not _adopt(record_dir, f, dest_dir)
        ]
        if missing:
            size = _size(sum(f.size for f in missing))
            logger.info(
                "record %s: downloading %d of %d files (%s)", record_id, len(missing), len(files), size
            )
            server = (base, base_url_source(base_url))
            with _progress(progress) as bars:
                for rf in missing:
                    _download(session(), record_id, rf, record_dir, dest_dir, policy, bars, server)

    return [path for rf in files for path in _place(record_dir / rf.key, rf, dest_dir)]


# --- the record listing -------------------------------------------------------------------------


def _check_record_id(record_id: str) -> str:
    text = str(record_id).strip()
    if not _RECORD_ID.match(text):
        raise DataError(
            f"Zenodo record id {record_id!r} is not valid: expected the number at the end of the record's "
            "address, e.g. '14614287' for https://zenodo.org/records/14614287."
        )
    return text


def http_session() -> requests.Session:
    """A session that names X-ARES and its version to the server (Zenodo and Debian mirrors log it)."""
    from xares.version import __version__

    session = requests.Session()
    session.headers["User-Agent"] = f"xares/{__version__} python-requests/{requests.__version__}"
    return session


def _list(
    session: requests.Session, record_id: str, base: str, policy: RetryPolicy, source: str
) -> list[RecordFile]:
    url = f"{base}/api/records/{record_id}"
    doing = f"listing record {record_id} at {url}"
    failures = 0
    while True:
        try:
            response = session.get(
                url,
                headers={"Accept": "application/json"},
                timeout=(policy.connect_timeout_s, policy.read_timeout_s),
            )
        except _NETWORK_ERRORS as exc:
            error, after = _network_error(exc, policy), None
        else:
            if response.status_code not in RETRY_STATUSES:
                break
            error, after = f"HTTP {response.status_code} {response.reason}".strip(), _retry_after(response)
        hint = _hint(base, source, error, url)
        failures = _wait(policy, failures, doing, error, after, hint, give_up=ServerUnreachable)
    if response.status_code in (404, 410):
        raise DataError(
            f"Zenodo has no record {record_id} at {url} (HTTP {response.status_code}; the server is "
            f"{base}, from {source}). Check the task's zenodo_id: records are sometimes replaced by a "
            "new upload with a new id."
        )
    if response.status_code != 200:
        raise DataError(
            f"listing record {record_id} at {url} failed with HTTP {response.status_code} "
            f"{response.reason} (the server {base} comes from {source}). Open {url} in a browser to "
            "see what it says."
        )
    try:
        payload = response.json()
    except ValueError as exc:
        raise DataError(
            f"{url} did not answer with JSON ({exc}); is {base} (from {source}) a Zenodo server?"
        ) from exc
    return _parse_listing(payload, record_id, base, url)


def _network_error(exc: BaseException, policy: RetryPolicy) -> str:
    """What went wrong on the wire, in words: refused, unknown host, no answer in time, or broken."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(f"{type(e).__name__}: {e}" for e in chain)
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "Connection refused" in text:
        return "connection refused (nothing listens there: the server is down or the address is wrong)"
    if any(isinstance(e, socket.gaierror) for e in chain) or "NameResolution" in text:
        return "the host name could not be resolved (this machine may be offline, or the name is wrong)"
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {policy.connect_timeout_s:g} s (offline, or a firewall drops it)"
    if isinstance(exc, (requests.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)):
        return (
            f"no data for {policy.read_timeout_s:g} s (a slow or stuck server; "
            "`xares fetch --read-timeout SECONDS` waits longer)"
        )
    return f"{type(exc).__name__}: {exc}"


def _hint(base: str, source: str, error: str, url: str) -> str:
    """Advice that fits the failure: a rate limit is not a refused connection."""
    where = f"The server {base} comes from {source}."
    if error.startswith("HTTP 429"):
        return f"{where} It rate-limits busy clients: wait a while and run again."
    if error.startswith("HTTP "):
        return (
            f"{where} It reports trouble on its side: wait a while and run again, or open {url} in a browser."
        )
    return (
        f"{where} Check the network and the address; a mirror or a local copy of the record can stand in "
        "(--zenodo-url)."
    )


def _parse_listing(payload: Any, record_id: str, base: str, url: str) -> list[RecordFile]:
    entries = payload.get("files") if isinstance(payload, dict) else None
    if isinstance(
        entries, dict
    ):  # the /files endpoint's shape: {"entries": [...]} or {"entries": {key: ...}}
        entries = entries.get("entries")
        if isinstance(entries, dict):
            entries = list(entries.values())
    if not isinstance(entries, list) or not entries:
        raise DataError(
            f"record {record_id} at {url} lists no files (they may be restricted or under embargo). "
            "Files of restricted records must be downloaded by hand with an account that may read them."
        )
    files: list[RecordFile] = []
    for entry in entries:
        try:
            key = entry["key"]
            size = int(entry["size"])
            algorithm, _, digest = str(entry["checksum"]).partition(":")
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"record {record_id} at {url}: unexpected file entry {entry!r} ({exc!r})"
            ) from exc
        if algorithm != "md5" or not _MD5.match(digest.lower()):
            raise DataError(
                f"record {record_id}: file {key!r} has checksum {entry['checksum']!r}; expected "
                "'md5:<32 hex>'. Report this record to its publisher."
            )
        if not isinstance(key, str) or any(c in key for c in "/\\\x00") or key.startswith(".") or size < 0:
            raise DataError(
                f"record {record_id}: file name {key!r} (size {size}) cannot be stored safely as one file; "
                "report this record to its publisher."
            )
        links = entry.get("links") or {}
        link = (
            links.get("self")
            or links.get("content")
            or f"{base}/api/records/{record_id}/files/{quote(key)}/content"
        )
        files.append(RecordFile(key=key, size=size, md5=digest.lower(), url=urljoin(base + "/", link)))
    return files


def _cached_listing(record_dir: Path, base: str) -> list[RecordFile] | None:
    """The file list saved by an earlier call against the same server; None when absent or unreadable."""
    try:
        payload = json.loads((record_dir / _LISTING).read_text(encoding="utf-8"))
        if payload.get("base_url") != base:
            return None
        return [RecordFile(**entry) for entry in payload["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --- downloading one file -----------------------------------------------------------------------


class _Transient(Exception):
    """A failure worth retrying; carries the server's Retry-After when it sent one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _download(
    session: requests.Session,
    record_id: str,
    rf: RecordFile,
    record_dir: Path,
    dest_dir: Path,
    policy: RetryPolicy,
    bars: _Bars,
    server: tuple[str, str],
) -> None:
    part = record_dir / f"{rf.key}.part"
    found = ""
    for attempt in range(1, policy.hash_attempts + 1):
        transfer(session, rf, part, policy, _manual(rf, dest_dir), server, bars)
        found = file_digest(part, "md5")
        size = part.stat().st_size
        if found == rf.md5 and size == rf.size:
            os.replace(part, record_dir / rf.key)
            _mark_verified(record_dir, rf)
            return
        part.unlink(missing_ok=True)
        logger.warning(
            "record %s: %s is corrupt (md5 %s, expected %s; %d of %d bytes); deleted it (download %d of %d)",
            record_id,
            rf.key,
            found,
            rf.md5,
            size,
            rf.size,
            attempt,
            policy.hash_attempts,
        )
    raise DataError(
        f"record {record_id}: {rf.key} failed its checksum {policy.hash_attempts} times: expected md5 "
        f"{rf.md5}, found {found}. The corrupt download {part} was deleted. Try again later (the server "
        f"or a proxy may be serving a damaged copy), or {_manual(rf, dest_dir)}"
    )


def _manual(rf: RecordFile, dest_dir: Path) -> str:
    return (
        f"download it by hand: fetch {rf.url} , put it at {dest_dir / rf.key} (md5 {rf.md5}, {rf.size} "
        "bytes) and run again; `xares fetch --print-urls` lists every file of the record."
    )


def transfer(
    session: requests.Session,
    rf: RecordFile,
    part: Path,
    policy: RetryPolicy,
    manual: str,
    server: tuple[str, str],
    bars: _Bars | None = None,
) -> None:
    """Bring `part` to rf.size bytes, resuming with Range, restarting when the server ignores Range.

    server: (base URL, where it came from), for advice that names both.
    """
    base, source = server
    failures = 0
    best = _size_of(part)  # the furthest any try got: only new ground resets the failure count
    bar = (bars or _Bars()).add(rf.key, rf.size)
    while True:
        offset = _size_of(part)
        if offset > rf.size:  # cannot be a prefix of the file: start over
            part.unlink()
            offset = 0
        bar.update(offset)
        if offset == rf.size:
            part.touch()  # an empty file needs no request, but must exist to be checked
            return
        headers = {"Accept-Encoding": "identity"}  # byte offsets must be those of the file itself
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            with session.get(
                rf.url,
                headers=headers,
                stream=True,
                timeout=(policy.connect_timeout_s, policy.read_timeout_s),
            ) as response:
                mode = _open_mode(response, rf, offset, manual)
                if mode is None:  # the server's range does not fit our partial file: start over
                    part.unlink(missing_ok=True)
                    raise _Transient(f"HTTP {response.status_code} for a resumed download; restarting")
                if mode == "wb" and offset:
                    logger.info(
                        "%s: the server ignored the Range request; downloading from the start", rf.key
                    )
                    bar.update(0)
                with open(part, mode) as out:
                    try:
                        for chunk in _received(response):
                            out.write(chunk)
                            out.flush()  # in the OS's hands at once: a killed process keeps it too
                            failpoint("download.chunk")
                            bar.advance(len(chunk))
                    finally:
                        out.flush()
                        os.fsync(out.fileno())
            got = _size_of(part)
            if got >= rf.size:
                return  # a longer file fails its checksum and is handled there
            raise _Transient(f"the connection closed after {got} of {rf.size} bytes")
        except _NETWORK_ERRORS as exc:
            error, retry_after = _network_error(exc, policy), None
        except _Transient as exc:
            error, retry_after = str(exc), exc.retry_after
        reached = _size_of(part)
        progressed = reached > best
        if progressed:  # new ground: this try does not count, and the budget starts afresh
            best, failures = reached, 0
        hint = f"{_hint(base, source, error, rf.url)} A new run resumes where this one stopped. Or {manual}"
        failures = _wait(
            policy, failures, f"downloading {rf.url}", error, retry_after, hint, counts=not progressed
        )


def _received(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives, each piece as soon as the socket has it (at most _CHUNK bytes).

    `iter_content` fills a whole chunk before handing it over, so a connection that breaks takes
    the bytes of the unfinished chunk with it (up to 1 MiB a try). `read1` returns whatever one read
    from the socket gave; when the connection breaks, everything before it has been handed over.
    """
    raw = response.raw
    while True:
        chunk = raw.read1(_CHUNK, decode_content=True)
        if not chunk:
            return
        yield chunk


def _open_mode(response: requests.Response, rf: RecordFile, offset: int, manual: str) -> str | None:
    """'ab' to append, 'wb' to start over, None when the partial file must be dropped; raises otherwise."""
    status = response.status_code
    if status in RETRY_STATUSES:
        raise _Transient(f"HTTP {status} {response.reason}", _retry_after(response))
    if status == 200:
        return "wb"
    if status == 206:
        start = _content_range_start(response.headers.get("Content-Range", ""))
        if start == offset:
            return "ab" if offset else "wb"
        return "wb" if start == 0 else None
    if status == 416 and offset:
        return None
    raise DataError(f"downloading {rf.url} failed with HTTP {status} {response.reason}; {manual}")


def _content_range_start(header: str) -> int | None:
    match = re.match(r"^\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*$", header)
    return int(match.group(1)) if match else None


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds (RFC 9110 allows a number or an HTTP date); None when absent or malformed."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _wait(
    policy: RetryPolicy,
    failures: int,
    doing: str,
    error: str,
    retry_after: float | None,
    hint: str,
    *,
    counts: bool = True,
    give_up: type[DataError] = DataError,
) -> int:
    """Count one more failure; sleep before the next try, or raise `give_up` once the tries are spent.

    counts=False (a try that brought new bytes): wait the first backoff step, count nothing.
    """
    if counts:
        failures += 1
    if failures >= policy.attempts:
        raise give_up(f"{doing} failed {failures} times in a row; last error: {error}. {hint}")
    if retry_after is not None:
        delay = max(retry_after, 0.0)
        if delay > policy.max_retry_after_s:
            raise give_up(
                f"{doing}: {error}, and the server asks to wait {delay:.0f} s before asking again "
                f"(Retry-After), more than the ceiling of {policy.max_retry_after_s:.0f} s. Run again "
                f"later, or raise the ceiling: `xares fetch --max-retry-after SECONDS` or "
                f"${MAX_RETRY_AFTER_ENV}=SECONDS. {hint}"
            )
    else:
        delay = min(max(policy.backoff_s * 2 ** max(failures - 1, 0), 0.0), policy.max_wait_s)
    why = f"try {failures + 1} of {policy.attempts}" if counts else "resuming (this try brought new bytes)"
    if delay >= LONG_WAIT_S:
        until = datetime.fromtimestamp(time.time() + delay, timezone.utc).strftime("%H:%M:%S")
        asked = "the server asks to wait" if retry_after is not None else "waiting"
        logger.warning(
            "%s: %s; %s %.0f s%s: waiting until %s UTC, then %s. Interrupt and run again later if you "
            "prefer: the download resumes where it stopped.",
            doing,
            error,
            asked,
            delay,
            " (Retry-After)" if retry_after is not None else "",
            until,
            why,
        )
    else:
        logger.warning("%s: %s; %s in %.1f s", doing, error, why, delay)
    policy.sleep(delay)
    return failures


# --- the cache ----------------------------------------------------------------------------------


def _marker(record_dir: Path, key: str) -> Path:
    return record_dir / f".{key}.verified"


def _mark_verified(record_dir: Path, rf: RecordFile) -> None:
    write_json_atomic(_marker(record_dir, rf.key), {**asdict(rf), "verified_at": time.time()})


def _is_verified(record_dir: Path, rf: RecordFile) -> bool:
    """True when the cached file has a marker for this size and md5 (not re-hashed: that is the point)."""
    try:
        marker = json.loads(_marker(record_dir, rf.key).read_text(encoding="utf-8"))
        on_disk = (record_dir / rf.key).stat().st_size
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict) and marker.get("md5") == rf.md5 and marker.get("size") == rf.size == on_disk
    )


def _adopt(record_dir: Path, rf: RecordFile, dest_dir: Path) -> bool:
    """Use a copy already here: a cached file whose marker was lost, or one the user placed by hand."""
    for candidate in (record_dir / rf.key, dest_dir / rf.key):
        same_size = candidate.is_file() and candidate.stat().st_size == rf.size
        if not same_size or file_digest(candidate, "md5") != rf.md5:
            continue
        if candidate.parent != record_dir:
            _link_or_copy(candidate, record_dir / rf.key)
            logger.info("%s: using the verified copy at %s", rf.key, candidate)
        _mark_verified(record_dir, rf)
        return True
    return False


def _place(cached: Path, rf: RecordFile, dest_dir: Path) -> list[Path]:
    if not rf.key.lower().endswith(ARCHIVE_SUFFIXES):
        target = dest_dir / rf.key
        _link_or_copy(cached, target)
        return [target]
    marker = dest_dir / f".{rf.key}.extracted.json"
    try:
        done = json.loads(marker.read_text(encoding="utf-8"))
        placed = [dest_dir / name for name in done["files"]]
        if done["md5"] == rf.md5 and all(p.exists() or p.is_symlink() for p in placed):
            return placed
    except (OSError, ValueError, KeyError, TypeError):
        pass
    placed = safe_extract(cached, dest_dir)
    write_json_atomic(
        marker,
        {"archive": rf.key, "md5": rf.md5, "files": [p.relative_to(dest_dir).as_posix() for p in placed]},
    )
    return placed


def _link_or_copy(source: Path, target: Path) -> None:
    """Put `source` at `target` atomically: a hard link (no extra disk), or a copy across file systems."""
    with contextlib.suppress(OSError):
        if os.path.samefile(source, target):
            return
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file read in chunks (memory stays flat for shards of many GB); md5 is only a
    checksum here (Zenodo's listing publishes it), never a security measure."""
    digest = hashlib.new(algorithm, usedforsecurity=algorithm != "md5")
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


# --- progress -----------------------------------------------------------------------------------


class _Bar:
    """One file's bar; a no-op when progress is off."""

    def __init__(self, progress: Any = None, task: Any = None) -> None:
        self._progress, self._task = progress, task

    def update(self, completed: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed)

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)


class _Bars:
    def __init__(self, progress: Any = None) -> None:
        self._progress = progress

    def add(self, key: str, size: int) -> _Bar:
        task = None if self._progress is None else self._progress.add_task(key, total=size)
        return _Bar(self._progress, task)


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[_Bars]:
    """rich progress bars with sizes and speed, on stderr so stdout stays clean for piping."""
    if not enabled:
        yield _Bars()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        yield _Bars(progress)
