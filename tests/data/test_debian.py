"""The Debian package source: .deb reading (hostile archives refused), hash check, mirror errors."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import pytest

from xares.data.debian import DebianPackage, fetch_package, read_members
from xares.data.zenodo import RetryPolicy
from xares.errors import DataError

NO_WAIT = RetryPolicy(attempts=2, backoff_s=0.0, sleep=lambda s: None, connect_timeout_s=2, read_timeout_s=2)


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def _ar(members: dict[str, bytes]) -> bytes:
    out = bytearray(b"!<arch>\n")
    for name, payload in members.items():
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(payload):<10}`\n".encode()
        out += payload + (b"\n" if len(payload) % 2 else b"")
    return bytes(out)


def make_deb(files: dict[str, bytes]) -> bytes:
    return _ar({"debian-binary": b"2.0\n", "control.tar.xz": _tar({}), "data.tar.xz": _tar(files)})


def test_reads_only_wanted_members(tmp_path: Path) -> None:
    deb = tmp_path / "x.deb"
    deb.write_bytes(make_deb({"./usr/share/a.wav": b"abc", "./usr/share/b.txt": b"hello"}))
    assert read_members(deb, lambda p: p.endswith(".wav")) == {"usr/share/a.wav": b"abc"}


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "./usr/../../x"])
def test_hostile_member_refuses_package(tmp_path: Path, name: str) -> None:
    deb = tmp_path / "evil.deb"
    deb.write_bytes(make_deb({"./usr/ok.wav": b"1", name: b"pwned"}))
    with pytest.raises(DataError, match="refusing"):
        read_members(deb, lambda p: True)


def test_truncated_ar_refused(tmp_path: Path) -> None:
    deb = tmp_path / "cut.deb"
    deb.write_bytes(make_deb({"./a.wav": b"x" * 1000})[:-300])
    with pytest.raises(DataError, match="cut.deb"):
        read_members(deb, lambda p: True)


class _Server:
    def __init__(self, root: Path) -> None:
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def mirror(tmp_path: Path):
    root = tmp_path / "mirror"
    server = _Server(root)
    yield root, server.url
    server.httpd.shutdown()


def _publish(root: Path, payload: bytes, sha: str | None = None) -> DebianPackage:
    pool = "pool/main/t/toy/toy_1.0-1_all.deb"
    (root / pool).parent.mkdir(parents=True, exist_ok=True)
    (root / pool).write_bytes(payload)
    return DebianPackage("toy", "1.0-1", pool, len(payload), sha or hashlib.sha256(payload).hexdigest())


def test_fetch_verifies_and_caches(mirror, tmp_path: Path) -> None:
    root, url = mirror
    package = _publish(root, make_deb({"./a.wav": b"1"}))
    got = fetch_package(package, tmp_path / "cache", mirror=url, retry=NO_WAIT)
    assert read_members(got, lambda p: True) == {"a.wav": b"1"}
    (root / package.filename).unlink()  # cached: the mirror is not asked again
    assert fetch_package(package, tmp_path / "cache", mirror=url, retry=NO_WAIT) == got


def test_hash_mismatch_names_package_hashes_and_fix(mirror, tmp_path: Path) -> None:
    root, url = mirror
    package = _publish(root, make_deb({"./a.wav": b"1"}), sha="0" * 64)
    with pytest.raises(DataError) as caught:
        fetch_package(package, tmp_path / "cache", mirror=url, retry=NO_WAIT)
    message = str(caught.value)
    found = hashlib.sha256((root / package.filename).read_bytes()).hexdigest()
    assert "toy" in message and "0" * 64 in message and found in message and "apt-cache show toy" in message
    assert not (tmp_path / "cache" / package.file_name).exists()


def test_version_gone_says_how_to_pin(mirror, tmp_path: Path) -> None:
    root, url = mirror
    root.mkdir(parents=True, exist_ok=True)
    package = DebianPackage("toy", "0.9-1", "pool/main/t/toy/toy_0.9-1_all.deb", 10, "1" * 64)
    with pytest.raises(DataError, match=r"no longer on the mirror.*HTTP 404.*apt-cache show toy") as caught:
        fetch_package(package, tmp_path / "cache", mirror=url, retry=NO_WAIT)
    message = str(caught.value)  # where to find another version and its hash, and what to copy
    assert "toy version 0.9-1" in message and "snapshot.debian.org" in message
    assert "Version, Filename, Size and SHA256" in message


def test_mirror_down(tmp_path: Path) -> None:
    package = DebianPackage("toy", "1.0-1", "pool/main/t/toy/toy_1.0-1_all.deb", 10, "1" * 64)
    with pytest.raises(DataError, match=r"mirror may be down.*--debian-mirror") as caught:
        fetch_package(package, tmp_path / "cache", mirror="http://127.0.0.1:9", retry=NO_WAIT)
    message = str(caught.value)  # names the package, the URL, and the manual fallback with its hash
    assert "toy 1.0-1" in message and "http://127.0.0.1:9/pool/main/t/toy/toy_1.0-1_all.deb" in message
    assert "1" * 64 in message and str(tmp_path / "cache" / "toy_1.0-1_all.deb") in message


TOY_TASK = """
from pathlib import Path

from xares.data.debian import DebianPackage, read_members
from xares.data.real.packages import fetch
from xares.data.shards import write_shards
from xares.task import TaskConfig

PACKAGE = DebianPackage("toy", "1.0-1", "pool/main/t/toy/toy_1.0-1_all.deb", {size}, "{sha}")


def generate(out_dir: Path) -> None:
    files = read_members(fetch(PACKAGE, out_dir), lambda p: p.endswith(".txt"))
    samples = [(Path(p).stem, data, "txt", {{"label": "a"}}) for p, data in sorted(files.items())]
    for split in ("train", "valid", "test"):
        write_shards(samples, Path(out_dir), f"{{split}}-*.tar", 1)


generate.debian_packages = (PACKAGE,)


def toy_config(encoder):
    return TaskConfig(name="toy", encoder=encoder, generator=generate, label_processor=lambda m: 0,
                      output_dim=1)
"""


def test_xares_fetch_downloads_from_the_debian_mirror_it_is_given(
    mirror, tmp_path: Path, monkeypatch
) -> None:
    from xares import cli
    from xares.data.debian import MIRROR_ENV

    root, url = mirror
    package = _publish(root, make_deb({"./usr/share/doc/toy/a.txt": b"hello"}))
    task = tmp_path / "toy_task.py"
    task.write_text(TOY_TASK.format(size=package.size, sha=package.sha256))
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:9")  # down; --debian-mirror overrides it
    assert (
        cli.main(["fetch", "-q", str(task), "--env-root", str(tmp_path / "env"), "--debian-mirror", url]) == 0
    )
    assert (tmp_path / "env" / ".downloads" / "debian" / package.file_name).read_bytes() == (
        root / package.filename
    ).read_bytes()
    assert len(list((tmp_path / "env" / "toy").glob("*.tar"))) == 3
