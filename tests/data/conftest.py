"""A local stand-in for Zenodo: a real HTTP server on 127.0.0.1 with faults that tests switch on.

It answers the records API (`/api/records/<id>`) and file downloads
(`/api/records/<id>/files/<key>/content`, honouring `Range: bytes=N-`), counts every hit, and for each
file consumes one queued fault per request: "429", "503", "drop" (the connection closes half way through
the body), "cut:N" (the connection closes after N bytes of the body), "ignore_range" (answers 200 with
the whole file), "corrupt" (one byte flipped), "slow" (a pause before answering, to make concurrent
fetches overlap), "sleep:S" (a pause of S seconds before answering), "redirect" (a 302 to the same
resource), "html" (a 200 with an HTML page), and any other three-digit status
("520", "408", ...) answered as it is. A 429 carries `retry_after` as its Retry-After header; any other
status carries `retry_after_5xx` when that is set.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

import pytest


class FakeZenodo:
    def __init__(self) -> None:
        self.records: dict[str, dict[str, bytes]] = {}
        self.faults: dict[str, list[str]] = defaultdict(list)  # file key, or record id for the listing
        self.wrong_md5: set[str] = set()
        self.hits: Counter[str] = Counter()  # "listing:<id>" or "file:<key>"
        self.ranges: dict[str, list[str | None]] = defaultdict(list)  # Range header of each file request
        self.retry_after = "3"
        self.retry_after_5xx: str | None = None  # Retry-After sent with other statuses, when set
        self.lock = threading.Lock()
        self.url = ""

    def add(self, record_id: str, files: dict[str, bytes]) -> None:
        self.records[record_id] = files

    def take_fault(self, name: str) -> str | None:
        with self.lock:
            return self.faults[name].pop(0) if self.faults[name] else None

    def listing(self, record_id: str) -> dict:
        entries = []
        for key, data in self.records[record_id].items():
            digest = hashlib.md5(b"not the data" if key in self.wrong_md5 else data).hexdigest()
            entries.append(
                {
                    "key": key,
                    "size": len(data),
                    "checksum": f"md5:{digest}",
                    "links": {
                        "self": f"{self.url}/api/records/{record_id}/files/{quote(key, safe='')}/content"
                    },
                }
            )
        return {"id": int(record_id) if record_id.isdigit() else record_id, "files": entries}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        fake = self.server.fake
        path = urlsplit(self.path).path
        if match := re.fullmatch(r"/api/records/([^/]+)", path):
            record_id = unquote(match.group(1))
            with fake.lock:
                fake.hits[f"listing:{record_id}"] += 1
            if record_id not in fake.records:
                return self._send(404, b'{"status": 404, "message": "PID does not exist."}')
            if self._answered_by(fake.take_fault(record_id)):
                return None
            return self._send(200, json.dumps(fake.listing(record_id)).encode(), "application/json")
        if match := re.fullmatch(r"/api/records/([^/]+)/files/([^/]+)/content", path):
            record_id, key = unquote(match.group(1)), unquote(match.group(2))
            with fake.lock:
                fake.hits[f"file:{key}"] += 1
                fake.ranges[key].append(self.headers.get("Range"))
            data = fake.records.get(record_id, {}).get(key)
            if data is None:
                return self._send(404, b"not found")
            return self._serve_file(key, data)
        return self._send(404, b"not found")

    def _answered_by(self, fault: str | None) -> bool:
        """Apply a fault; True when it already answered the request."""
        if fault == "slow":
            time.sleep(0.3)
        elif fault is not None and fault.startswith("sleep:"):
            time.sleep(float(fault.partition(":")[2]))
        elif fault == "redirect":  # to the same resource by another address (as Zenodo does to its CDN)
            self._send(302, b"", headers={"Location": f"{self.server.fake.url}{self.path}?via=redirect"})
            return True
        elif fault == "html":  # a captive portal or proxy page instead of the API's JSON
            self._send(200, b"<html><body>Please log in</body></html>", "text/html")
            return True
        elif fault == "429":
            self._send(429, b"slow down", headers={"Retry-After": self.server.fake.retry_after})
            return True
        elif fault is not None and re.fullmatch(r"\d{3}", fault):
            after = self.server.fake.retry_after_5xx
            self._send(int(fault), b"trouble", headers={"Retry-After": after} if after else None)
            return True
        return False

    def _serve_file(self, key: str, data: bytes) -> None:
        fault = self.server.fake.take_fault(key)
        if self._answered_by(fault):
            return
        if fault == "corrupt":
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        status, start, headers = 200, 0, {}
        requested = self.headers.get("Range")
        if requested and fault != "ignore_range":
            start = int(re.fullmatch(r"bytes=(\d+)-", requested).group(1))
            if start >= len(data):
                return self._send(416, b"", headers={"Content-Range": f"bytes */{len(data)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        if fault == "drop" or (fault or "").startswith("cut:"):
            cut = len(body) // 2 if fault == "drop" else int(fault.partition(":")[2])
            self._send(status, body[:cut], headers=headers, length=len(body))
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(status, body, headers=headers)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/octet-stream",
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeZenodo


@contextlib.contextmanager
def running_fake_zenodo() -> Iterator[FakeZenodo]:
    """A running fake Zenodo on 127.0.0.1 (port chosen by the OS); `.url` is its base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeZenodo()
    server.fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def zenodo_server() -> Iterator[FakeZenodo]:
    """The stand-in for one test (also used by tests/data/scenarios.py, outside pytest)."""
    with running_fake_zenodo() as fake:
        yield fake
