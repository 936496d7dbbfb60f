"""XARES-LLM's shards through huggingface_hub, against a local stand-in of the hub (an HTTP server that
answers as the hub's resolve endpoint does): files land under their repository paths, verified by the
SHA-256 the server declares, are not fetched twice, and a file whose bytes disagree is deleted with an
error that says so. Also upstream's brace patterns."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("huggingface_hub")

from xares.errors import DataError  # noqa: E402
from xares.llm.data import acquire_shards, expand_braces, shard_names  # noqa: E402

REPO = "mispeech/xares_llm_data"
FILES = {"ESC-50/test/esc50_fold_5_0000000.tar.gz": b"shard five" * 100, "GTZAN/test/g.tar.gz": b"gtzan"}


class StandIn(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    declared: dict[str, str] = {}
    gets: list[str] = []

    def log_message(self, *args):  # quiet
        pass

    def _file(self) -> tuple[str, bytes] | None:
        prefix = f"/datasets/{REPO}/resolve/main/"
        path = self.path.split("?", 1)[0]
        if not path.startswith(prefix) or path[len(prefix) :] not in self.files:
            return None
        name = path[len(prefix) :]
        return name, self.files[name]

    def _headers(self, name: str, data: bytes) -> None:
        sha = self.declared.get(name, hashlib.sha256(data).hexdigest())
        self.send_header("X-Repo-Commit", "a" * 40)
        self.send_header("ETag", f'"{sha}"')
        self.send_header("X-Linked-Etag", f'"{sha}"')
        self.send_header("X-Linked-Size", str(len(data)))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()

    def do_HEAD(self):
        found = self._file()
        if found is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self._headers(*found)

    def do_GET(self):
        found = self._file()
        if found is None:
            self.send_response(404)
            self.end_headers()
            return
        self.gets.append(found[0])
        self.send_response(200)
        self._headers(*found)
        self.wfile.write(found[1])


@pytest.fixture
def hub(monkeypatch, tmp_path):
    StandIn.files, StandIn.declared, StandIn.gets = dict(FILES), {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_shards_are_downloaded_verified_and_not_fetched_twice(hub, tmp_path):
    names = sorted(FILES)
    paths = acquire_shards(names, tmp_path / "data", endpoint=hub)
    assert [p.read_bytes() for p in paths] == [FILES[n] for n in names]
    assert all(p.with_name(p.name + ".verified.json").is_file() for p in paths)
    fetched = len(StandIn.gets)
    acquire_shards(names, tmp_path / "data", endpoint=hub)
    assert len(StandIn.gets) == fetched


def test_a_file_whose_hash_disagrees_is_deleted_with_the_reason(hub, tmp_path):
    name = "GTZAN/test/g.tar.gz"
    StandIn.declared[name] = "0" * 64
    with pytest.raises(DataError, match=r"hub declares 0{64}.*deleted"):
        acquire_shards([name], tmp_path / "data", endpoint=hub)
    assert not (tmp_path / "data" / name).exists()


def test_a_missing_file_names_the_manual_fallback(hub, tmp_path):
    with pytest.raises(Exception, match="GTZAN/test/none.tar.gz"):
        acquire_shards(["GTZAN/test/none.tar.gz"], tmp_path / "data", endpoint=hub)


def test_upstream_brace_patterns_expand_as_braceexpand_does():
    assert expand_braces("a_0000{00..02}.tar.gz") == ["a_000000.tar.gz", "a_000001.tar.gz", "a_000002.tar.gz"]
    assert expand_braces("fold_{1..3}_x") == ["fold_1_x", "fold_2_x", "fold_3_x"]
    assert expand_braces("{a,b}/{8..10}") == ["a/8", "a/9", "a/10", "b/8", "b/9", "b/10"]
    assert len(shard_names(["NSynth"])) == 372 and shard_names(["ESC-50"], side="eval") == [
        "ESC-50/test/esc50_fold_5_0000000.tar.gz"
    ]
    with pytest.raises(DataError, match="unknown XARES-LLM dataset"):
        shard_names(["NoSuchSet"])
