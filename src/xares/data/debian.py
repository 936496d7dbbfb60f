"""Debian packages as a data source: pinned, hash-checked, cached, read without installing anything.

Real recordings under free licences ship in Debian's archive, which any machine reaches over plain
HTTP. A task names each package it needs with a pinned version, file name, pool path and SHA-256
(`DebianPackage`). `fetch_package` brings the `.deb` into a cache, with `apt-get download` where that
works and no mirror was asked for, else over HTTP from a mirror (the argument, `$XARES_DEBIAN_MIRROR`,
else deb.debian.org), resuming and retrying with the Zenodo client's transfer code. A `.deb` is an
`ar` archive holding `data.tar.*`; `read_members` reads the wanted files straight from it into memory,
refusing the whole package when any member name could escape a target directory (the rules of
`xares.data.extract`), so nothing is ever written outside the cache.

Cache layout::

    <cache_dir>/<package>.lock          per-package lock (filelock)
    <cache_dir>/<file name>.part        an interrupted download
    <cache_dir>/<file name>             a verified package
    <cache_dir>/.<file name>.verified   its marker (package, version, size, sha256), written after the check
"""

from __future__ import annotations

import io
import json
import logging
import lzma
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import requests
from filelock import FileLock

from xares.atomic import write_json_atomic
from xares.data.extract import member_parts
from xares.data.zenodo import RecordFile, RetryPolicy, file_digest, http_session, transfer
from xares.errors import DataError

logger = logging.getLogger(__name__)

DEFAULT_MIRROR = "http://deb.debian.org/debian"
MIRROR_ENV = "XARES_DEBIAN_MIRROR"
AR_MAGIC = b"!<arch>\n"


@dataclass(frozen=True)
class DebianPackage:
    """One pinned package: what `apt-cache show NAME` prints as Version, Filename, Size and SHA256."""

    name: str
    version: str
    filename: str  # the pool path, e.g. pool/main/f/freepats/freepats_20060219-4_all.deb
    size: int
    sha256: str

    @property
    def file_name(self) -> str:
        return self.filename.rsplit("/", 1)[-1]


def resolve_mirror(mirror: str | None = None) -> str:
    """The mirror to use: the argument, else $XARES_DEBIAN_MIRROR, else deb.debian.org."""
    chosen = (mirror or os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR).strip().rstrip("/")
    if not chosen.startswith(("http://", "https://")):
        raise DataError(
            f"Debian mirror {chosen!r} is not an http(s) URL; use e.g. {DEFAULT_MIRROR!r} "
            f"(--debian-mirror or ${MIRROR_ENV})."
        )
    return chosen


def _mirror_source(mirror: str | None) -> tuple[str, str]:
    """(mirror URL, where it came from), for advice that names both."""
    if mirror or os.environ.get(MIRROR_ENV):
        return resolve_mirror(mirror), "--debian-mirror" if mirror else f"${MIRROR_ENV}"
    return resolve_mirror(None), f"the default (--debian-mirror or ${MIRROR_ENV} choose another)"


def package_url(package: DebianPackage, mirror: str | None = None) -> str:
    return f"{resolve_mirror(mirror)}/{package.filename}"


def _pin_hint(package: DebianPackage) -> str:
    return (
        f"To pin another version, run `apt-cache show {package.name}` on a Debian machine (or read "
        f"https://packages.debian.org/{package.name}; old versions stay at https://snapshot.debian.org/) "
        "and copy its Version, Filename, Size and SHA256 into the task's DebianPackage; or point "
        f"--debian-mirror / ${MIRROR_ENV} at a snapshot such as "
        "http://snapshot.debian.org/archive/debian/20240101T000000Z that still holds this version."
    )


def fetch_package(
    package: DebianPackage,
    cache_dir: Path,
    *,
    mirror: str | None = None,
    retry: RetryPolicy | None = None,
) -> Path:
    """The verified `.deb` in `cache_dir`, downloaded once (apt-get download, else HTTP from a mirror).

    apt is tried only when no mirror was given (argument or environment) and `apt-get` exists: a
    mirror the user names is the mirror used.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / package.file_name
    marker = cache_dir / f".{package.file_name}.verified"
    with FileLock(str(cache_dir / f"{package.name}.lock")):
        if _is_verified(final, marker, package):
            return final
        if not final.is_file():  # else a copy placed by hand, or one whose marker was lost: checked
            use_apt = mirror is None and not os.environ.get(MIRROR_ENV) and shutil.which("apt-get")
            if not (use_apt and _apt_download(package, cache_dir)):
                _http_download(package, cache_dir, mirror, retry or RetryPolicy())
        _verify(final, package)
        write_json_atomic(marker, asdict(package))
        return final


def _is_verified(final: Path, marker: Path, package: DebianPackage) -> bool:
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        size = final.stat().st_size
    except (OSError, ValueError):
        return False
    return recorded == asdict(package) and size == package.size


def _verify(path: Path, package: DebianPackage) -> None:
    found = file_digest(path)
    if found != package.sha256:
        bad = path.with_name(path.name + ".bad")
        os.replace(path, bad)
        raise DataError(
            f"Debian package {package.name} {package.version} ({path.name}) failed its hash check: expected "
            f"SHA-256 {package.sha256}, found {found}. The file was moved aside to {bad}. Run again to "
            f"download it afresh; if it fails again the mirror serves a different file under this name: "
            f"try another mirror (--debian-mirror / ${MIRROR_ENV}), or, if Debian rebuilt the package, "
            + _pin_hint(package)
        )


def _apt_download(package: DebianPackage, cache_dir: Path) -> bool:
    """True when `apt-get download NAME=VERSION` produced the file; any failure falls back to HTTP."""
    scratch = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".apt-"))
    try:
        result = subprocess.run(
            ["apt-get", "download", "-q", f"{package.name}={package.version}"],
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        got = scratch / package.file_name
        if result.returncode == 0 and got.is_file():
            os.replace(got, cache_dir / package.file_name)
            return True
        why: object = result.stderr.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        why = exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    logger.info("apt-get download %s failed (%s); trying HTTP", package.name, why)
    return False


def _http_download(package: DebianPackage, cache_dir: Path, mirror: str | None, policy: RetryPolicy) -> None:
    url = package_url(package, mirror)
    part = cache_dir / f"{package.file_name}.part"
    target = cache_dir / package.file_name
    manual = f"download it by hand: fetch {url} , put it at {target} (SHA-256 {package.sha256}) and run again"
    rf = RecordFile(key=package.file_name, size=package.size, md5="", url=url)
    with http_session() as session:
        try:
            transfer(session, rf, part, policy, manual, _mirror_source(mirror))
        except DataError as exc:
            status = _status(session, url, policy)
            if status in (404, 410):
                raise DataError(
                    f"Debian package {package.name} version {package.version} is no longer on the mirror "
                    f"{resolve_mirror(mirror)} ({url} gives HTTP {status}): Debian drops superseded "
                    "versions. " + _pin_hint(package)
                ) from exc
            raise DataError(
                f"Debian package {package.name} {package.version}: the mirror {resolve_mirror(mirror)} "
                f"did not deliver {url} ({exc}). The mirror may be down: pick another with "
                f"--debian-mirror or ${MIRROR_ENV} (list at https://www.debian.org/mirror/list), or {manual}."
            ) from exc
    os.replace(part, target)


def _status(session: requests.Session, url: str, policy: RetryPolicy) -> int | None:
    try:
        with session.head(url, timeout=(policy.connect_timeout_s, policy.read_timeout_s)) as response:
            return response.status_code
    except requests.RequestException:
        return None


# --- reading a .deb -----------------------------------------------------------------------------


def _ar_members(deb: Path, data: bytes) -> dict[str, bytes]:
    """The members of an ar archive by name; a malformed header refuses the whole file."""
    if not data.startswith(AR_MAGIC):
        raise DataError(f"{deb} is not a Debian package: no ar header. Delete it and fetch it again.")
    members: dict[str, bytes] = {}
    offset = len(AR_MAGIC)
    while offset < len(data):
        header = data[offset : offset + 60]
        if len(header) < 60 or header[58:60] != b"`\n":
            raise DataError(f"{deb}: damaged ar header at byte {offset}. Delete it and fetch it again.")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError as exc:
            raise DataError(
                f"{deb}: ar member {name!r} has no valid size. Delete it and fetch again."
            ) from exc
        start = offset + 60
        if size < 0 or start + size > len(data):
            raise DataError(f"{deb}: ar member {name!r} runs past the end of the file (truncated download?).")
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            raise DataError(f"refusing {deb}: ar member name {name!r} is not a plain file name.")
        members[name] = data[start : start + size]
        offset = start + size + (size & 1)
    return members


def read_members(deb: Path, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    """The regular files of the package's data.tar.* whose normalised path `wanted` accepts.

    Paths are given without a leading './' (e.g. 'usr/share/midi/freepats/Tone_000/000_x.pat'). Every
    member name is checked first, wanted or not: a hostile name (absolute, '..', NUL) refuses the
    package. Links and device files are never followed or created: nothing is written to disk.
    """
    deb = Path(deb)
    members = _ar_members(deb, deb.read_bytes())
    data_names = [n for n in members if n.startswith("data.tar")]
    if not data_names:
        raise DataError(f"{deb}: no data.tar member (found {sorted(members)}); it is not a binary package.")
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(members[data_names[0]]), mode="r:*") as tar:
            for member in tar:
                parts = member_parts(deb, member.name)
                path = "/".join(parts)
                if member.isdev() or member.isfifo():
                    raise DataError(f"refusing {deb}: member {member.name!r} is a device file or FIFO.")
                if not member.isreg() or not wanted(path):
                    continue
                source = tar.extractfile(member)
                if source is not None:
                    out[path] = source.read()
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError) as exc:
        raise DataError(
            f"{deb}: its {data_names[0]} is damaged ({exc}). Delete it and fetch it again."
        ) from exc
    return out
