"""safe_extract: good archives land in dest_dir; hostile ones are refused and leave nothing anywhere."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xares.data.extract import safe_extract
from xares.errors import DataError

# A member is (name, kind, payload): kind "file" (payload = bytes), "dir", "symlink"/"hardlink"
# (payload = link target), "chr", "fifo".
Member = tuple[str, str, "bytes | str"]


def make_tar(path: Path, members: list[Member], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
                "chr": tarfile.CHRTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            if kind in ("symlink", "hardlink"):
                info.linkname = data
            tar.addfile(info)
    return path


def make_zip(path: Path, members: list[Member]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, kind, data in members:
            info = zipfile.ZipInfo(name)
            if kind == "file":
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                zf.writestr(info, data)
            elif kind == "dir":
                info.filename = name.rstrip("/") + "/"
                info.external_attr = (stat.S_IFDIR | 0o755) << 16
                zf.writestr(info, b"")
            elif kind == "symlink":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, data)
            elif kind == "chr":
                info.external_attr = (stat.S_IFCHR | 0o644) << 16
                zf.writestr(info, b"")
            else:
                raise ValueError(kind)
    return path


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root (links not followed) with file contents, to prove nothing changed."""
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            key = path.relative_to(root).as_posix()
            found[key] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return found


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """tmp_path/outside/secret.txt (what attacks aim at) and an empty tmp_path/work/dest."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(b"secret")
    (tmp_path / "work" / "dest").mkdir(parents=True)
    return tmp_path


# --- good archives --------------------------------------------------------------------------------


def test_good_tar_extracts_with_folders_and_internal_links(sandbox: Path) -> None:
    archive = make_tar(
        sandbox / "good.tar",
        [
            ("./", "dir", b""),
            ("train-000000.tar", "file", b"shard 0"),
            ("sub/", "dir", b""),
            ("sub/deep/test-000000.tar", "file", b"shard 1"),
            ("sub/alias.tar", "symlink", "deep/test-000000.tar"),
            ("copy.tar", "hardlink", "train-000000.tar"),
        ],
    )
    dest = sandbox / "work" / "dest"
    placed = safe_extract(archive, dest)
    assert placed == sorted(
        [
            dest / "train-000000.tar",
            dest / "copy.tar",
            dest / "sub" / "alias.tar",
            dest / "sub/deep/test-000000.tar",
        ]
    )
    assert (dest / "sub" / "alias.tar").read_bytes() == b"shard 1"
    assert (dest / "copy.tar").read_bytes() == b"shard 0"
    assert sorted(p.name for p in (sandbox / "work").iterdir()) == ["dest"]  # no scratch left behind


@pytest.mark.parametrize(
    "mode,suffix", [("w:gz", ".tar.gz"), ("w:gz", ".tgz"), ("w:bz2", ".tar.bz2"), ("w:xz", ".tar.xz")]
)
def test_compressed_tars_extract(sandbox: Path, mode: str, suffix: str) -> None:
    archive = make_tar(sandbox / f"good{suffix}", [("a.tar", "file", b"A" * 1000)], mode=mode)
    [path] = safe_extract(archive, sandbox / "work" / "dest")
    assert path.read_bytes() == b"A" * 1000


def test_good_zip_extracts(sandbox: Path) -> None:
    archive = make_zip(
        sandbox / "good.zip",
        [
            ("d", "dir", b""),
            ("d/a.tar", "file", b"a"),
            ("b.tar", "file", b"b"),
            ("d/link", "symlink", "a.tar"),
        ],
    )
    dest = sandbox / "work" / "dest"
    placed = safe_extract(archive, dest)
    assert placed == [dest / "b.tar", dest / "d" / "a.tar", dest / "d" / "link"]
    assert (dest / "d" / "link").read_bytes() == b"a"


def test_extracting_again_overwrites_files(sandbox: Path) -> None:
    archive = make_tar(sandbox / "good.tar", [("a.tar", "file", b"new")])
    dest = sandbox / "work" / "dest"
    (dest / "a.tar").write_bytes(b"old")
    safe_extract(archive, dest)
    assert (dest / "a.tar").read_bytes() == b"new"


def test_archive_recognised_by_content_when_the_name_says_nothing(sandbox: Path) -> None:
    archive = make_zip(sandbox / "download.bin", [("a.tar", "file", b"a")])
    [path] = safe_extract(archive, sandbox / "work" / "dest")
    assert path.read_bytes() == b"a"


# --- hostile archives -----------------------------------------------------------------------------

HOSTILE_TARS: dict[str, list[Member]] = {
    "dotdot": [("../evil.txt", "file", b"x")],
    "dotdot-deep": [("a/b/../../../evil.txt", "file", b"x")],
    "dotdot-backslash": [("..\\evil.txt", "file", b"x")],
    "absolute": [("{outside}/evil.txt", "file", b"x")],
    "symlink-out": [("link", "symlink", "../../outside"), ("link/evil.txt", "file", b"x")],
    "symlink-absolute": [("link", "symlink", "{outside}")],
    "symlink-chain": [
        ("v", "symlink", "u/u/u/../.."),
        ("u", "symlink", "."),
        ("v/outside/evil.txt", "file", b"x"),
    ],
    "symlink-chain-unused": [("v", "symlink", "u/u/u/../.."), ("u", "symlink", ".")],
    "hardlink-out": [("evil", "hardlink", "../../outside/secret.txt")],
    "hardlink-absolute": [("evil", "hardlink", "{outside}/secret.txt")],
    "hardlink-to-symlink": [("s", "symlink", "a"), ("a", "file", b"a"), ("h", "hardlink", "s")],
    "char-device": [("ok.tar", "file", b"fine"), ("tty", "chr", b"")],
    "fifo": [("pipe", "fifo", b"")],
}

HOSTILE_ZIPS: dict[str, list[Member]] = {
    "dotdot": [("../evil.txt", "file", b"x")],
    "absolute": [("{outside}/evil.txt", "file", b"x")],
    "drive": [("C:/evil.txt", "file", b"x")],
    "symlink-out": [("link", "symlink", "../../outside"), ("link/evil.txt", "file", b"x")],
    "symlink-absolute": [("link", "symlink", "{outside}/secret.txt")],
    "char-device": [("tty", "chr", b"")],
}


def _resolve(members: list[Member], outside: Path) -> list[Member]:
    return [
        (name.format(outside=outside), kind, data.format(outside=outside) if isinstance(data, str) else data)
        for name, kind, data in members
    ]


def _assert_refused(archive: Path, sandbox: Path) -> DataError:
    before = snapshot(sandbox)
    with pytest.raises(DataError) as info:
        safe_extract(archive, sandbox / "work" / "dest")
    assert snapshot(sandbox) == before  # nothing written: not in dest, not outside, no scratch left
    message = str(info.value)
    assert str(archive) in message
    return info.value


@pytest.mark.parametrize("case", sorted(HOSTILE_TARS))
def test_hostile_tar_is_refused(sandbox: Path, case: str) -> None:
    archive = make_tar(sandbox / "hostile.tar", _resolve(HOSTILE_TARS[case], sandbox / "outside"))
    error = _assert_refused(archive, sandbox)
    assert "member" in str(error)


@pytest.mark.parametrize("case", sorted(HOSTILE_ZIPS))
def test_hostile_zip_is_refused(sandbox: Path, case: str) -> None:
    archive = make_zip(sandbox / "hostile.zip", _resolve(HOSTILE_ZIPS[case], sandbox / "outside"))
    error = _assert_refused(archive, sandbox)
    assert "member" in str(error)


def test_hard_link_refusal_names_the_link_member(sandbox: Path) -> None:
    archive = make_tar(sandbox / "hostile.tar", [("evil", "hardlink", "../../outside/secret.txt")])
    error = _assert_refused(archive, sandbox)
    assert "member 'evil' is a hard link to '../../outside/secret.txt'" in str(error)


def test_refusal_names_the_member_and_what_to_do(sandbox: Path) -> None:
    archive = make_tar(sandbox / "hostile.tar", [("ok.tar", "file", b"ok"), ("../evil.txt", "file", b"x")])
    error = _assert_refused(archive, sandbox)
    assert "'../evil.txt'" in str(error) and "cannot help" in str(error)  # the record serves the same bytes


def test_truncated_archive_is_a_data_error(sandbox: Path) -> None:
    good = make_tar(sandbox / "full.tar.gz", [("a.tar", "file", os.urandom(50_000))], mode="w:gz")
    broken = sandbox / "broken.tar.gz"
    broken.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(DataError, match="damaged or truncated"):
        safe_extract(broken, sandbox / "work" / "dest")
    assert list((sandbox / "work").iterdir()) == [sandbox / "work" / "dest"]


def test_not_an_archive_is_a_data_error(sandbox: Path) -> None:
    junk = sandbox / "junk.bin"
    junk.write_bytes(b"\x00\x01 not an archive")
    with pytest.raises(DataError, match="neither a zip nor a tar"):
        safe_extract(junk, sandbox / "work" / "dest")


def test_missing_archive_is_a_data_error(sandbox: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        safe_extract(sandbox / "absent.zip", sandbox / "work" / "dest")


# --- property: whatever the member names, nothing escapes dest_dir ---------------------------------

_COMPONENTS = st.sampled_from(["a", "b", "..", ".", "", "..\\..", "C:", "~", "\\", "x.tar", "...", " "])
_NAMES = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "/", "//", "./", "\\"]),
    st.lists(_COMPONENTS | st.text(alphabet="ab./\\:", min_size=1, max_size=6), min_size=1, max_size=6),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(_NAMES, min_size=1, max_size=4, unique=True), use_zip=st.booleans())
def test_arbitrary_member_names_never_escape_dest(names: list[str], use_zip: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dest = root / "work" / "dest"
        dest.mkdir(parents=True)
        members: list[Member] = [(name, "file", b"x") for name in names]
        try:
            archive = make_zip(root / "a.zip", members) if use_zip else make_tar(root / "a.tar", members)
        except (ValueError, OSError, IndexError):  # the writers themselves refuse some names
            return
        try:
            placed = safe_extract(archive, dest)
        except DataError:
            placed = []
        real_dest = os.path.realpath(dest)
        for path in placed:
            assert os.path.realpath(path).startswith(real_dest + os.sep)
        outside = {k for k in snapshot(root) if not k.startswith("work/dest/")}
        assert outside == {archive.name, "work", "work/dest"}
