"""Safe extraction of downloaded archives (zip, tar, tar.gz/.bz2/.xz).

An archive from the network is untrusted input, even one whose md5 matched (the checksum proves only
that it is the file the publisher uploaded, so the advice on a refusal never says "fetch it again"): a
member named `../x` or `/etc/x`, a symlink that points out of the target, or a later member written
*through* such a symlink would put files anywhere on the machine. `tarfile`'s extraction filters only
exist on recent Python versions and `zipfile` knows nothing of symlinks, so every member is checked and
created here by hand, the same way on every Python version.

Extraction goes into a scratch directory beside `dest_dir` (same file system, so the final moves
are renames), is checked as a whole, and only then are the entries moved into `dest_dir`. A
refused archive therefore leaves nothing behind: not in `dest_dir`, not outside it.
"""

from __future__ import annotations

import gzip
import logging
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from xares.errors import DataError

logger = logging.getLogger(__name__)

ZIP_SUFFIXES: tuple[str, ...] = (".zip",)
TAR_SUFFIXES: tuple[str, ...] = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")

_CHUNK = 1 << 20
_SPECIAL = {
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
}
_DRIVE = re.compile(r"^[A-Za-z]:")
# What a damaged or truncated archive raises while being read (BadGzipFile is an OSError, hence listed).
_CORRUPT = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    gzip.BadGzipFile,
)
# Archives reach here after their md5 matched the record's: fetching again brings the very same bytes.
_FIX = (
    "Fetching it again cannot help: the download matched the record's published md5, so the record serves "
    "these same bytes. Report the archive (and the member named) to the data's publisher; meanwhile "
    "extract it by hand with a tool you trust, leaving out what was refused, and place the shards in the "
    "task directory: stage 0 accepts shards placed by hand."
)


def archive_format(archive: Path) -> str | None:
    """'zip', 'tar' or None, from the name first and the content second (names are cheaper and exact)."""
    name = archive.name.lower()
    if name.endswith(ZIP_SUFFIXES):
        return "zip"
    if name.endswith(TAR_SUFFIXES):
        return "tar"
    if zipfile.is_zipfile(archive):
        return "zip"
    try:
        return "tar" if tarfile.is_tarfile(archive) else None
    except (OSError, *_CORRUPT):
        return None


def safe_extract(archive: Path, dest_dir: Path) -> list[Path]:
    """Extract `archive` into `dest_dir`, refusing any member that could land outside it.

    Refused (DataError naming the archive and the member): absolute names, '..' components, symlinks
    whose target resolves outside the extraction root, hard links to anything but a regular file
    extracted earlier from the same archive, device files and FIFOs. Returns the files (and internal
    symlinks) placed in `dest_dir`, sorted; directories are created but not listed.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    if not archive.is_file():
        raise DataError(f"cannot extract {archive}: no such file. Fetch the archive first.")
    kind = archive_format(archive)
    if kind is None:
        raise DataError(
            f"cannot extract {archive}: it is neither a zip nor a tar archive (by name or content). "
            f"Supported: {', '.join(ZIP_SUFFIXES + TAR_SUFFIXES)}. {_FIX}"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    # The scratch directory sits beside the *real* destination so the final moves never cross devices.
    real_dest = Path(os.path.realpath(dest_dir))
    scratch = Path(tempfile.mkdtemp(dir=real_dest.parent, prefix=f".{real_dest.name}.extracting-"))
    try:
        try:
            if kind == "zip":
                _extract_zip(archive, scratch)
            else:
                _extract_tar(archive, scratch)
        except _CORRUPT as exc:
            raise DataError(
                f"cannot extract {archive}: the archive is damaged or truncated ({exc}). {_FIX}"
            ) from exc
        _check_symlinks(archive, scratch)
        placed = _move_into(archive, scratch, dest_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    logger.info("extracted %d files from %s into %s", len(placed), archive.name, dest_dir)
    return placed


def _refuse(archive: Path, member: str, why: str, what: str | None = None) -> DataError:
    return DataError(
        f"refusing to extract {archive}: member {member!r} {why}. Nothing from this archive was written. "
        f"{what or _FIX}"
    )


def member_parts(archive: Path, name: str) -> tuple[str, ...]:
    """Split a member name into safe path components ('/' and '\\' both separate, as archivers differ)."""
    if "\x00" in name:
        raise _refuse(archive, name, "has a NUL character in its name")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise _refuse(archive, name, "has an absolute path")
    parts = tuple(p for p in re.split(r"[/\\]", name) if p not in ("", "."))
    if ".." in parts:
        raise _refuse(archive, name, "has a '..' component that would climb out of the target directory")
    return parts


def _inside(path: str | Path, root: Path) -> bool:
    real = os.path.realpath(path)
    root_real = os.path.realpath(root)
    return real == root_real or real.startswith(root_real + os.sep)


def _target(archive: Path, root: Path, name: str, parts: tuple[str, ...]) -> Path:
    """The path a member goes to, after checking that its parent directories resolve inside `root`."""
    target = root.joinpath(*parts)
    if not _inside(target.parent, root):
        raise _refuse(archive, name, "would be written through a symlink that leads outside the target")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)  # archives need not list folders before files
    except (FileExistsError, NotADirectoryError) as exc:
        raise _refuse(archive, name, "lies in a folder whose name an earlier file member took") from exc
    return target


def _clear(archive: Path, name: str, target: Path) -> None:
    """Make room for a member: a later member of the same name wins (as in tar), never over a directory."""
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        raise _refuse(archive, name, "would replace a directory of the same name")


def _write_file(archive: Path, root: Path, name: str, parts: tuple[str, ...], source: BinaryIO) -> None:
    if not parts:
        raise _refuse(archive, name, "is a file without a name")
    target = _target(archive, root, name, parts)
    _clear(archive, name, target)
    # O_EXCL|O_NOFOLLOW: never write through a symlink, even one created a moment ago.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(target, flags, 0o644)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)


def _make_dir(archive: Path, root: Path, name: str, parts: tuple[str, ...]) -> None:
    if not parts:
        return  # the archive's own root, './'
    target = _target(archive, root, name, parts)
    if not _inside(target, root):
        raise _refuse(archive, name, "is a directory reached through a symlink that leads outside the target")
    if target.exists() and not target.is_dir():
        raise _refuse(archive, name, "is a directory but a file of the same name came earlier")
    target.mkdir(parents=True, exist_ok=True)


def _make_symlink(archive: Path, root: Path, name: str, parts: tuple[str, ...], link: str) -> None:
    if not parts:
        raise _refuse(archive, name, "is a symlink without a name")
    if not link or "\x00" in link:
        raise _refuse(archive, name, f"is a symlink with an invalid target {link!r}")
    if link.startswith(("/", "\\")) or _DRIVE.match(link):
        raise _refuse(archive, name, f"is a symlink to the absolute path {link!r}")
    target = _target(archive, root, name, parts)
    if not _inside(os.path.join(target.parent, link), root):
        raise _refuse(archive, name, f"is a symlink to {link!r}, which is outside the target directory")
    _clear(archive, name, target)
    os.symlink(link, target)


def _make_hardlink(archive: Path, root: Path, name: str, parts: tuple[str, ...], link: str) -> None:
    if not parts:
        raise _refuse(archive, name, "is a hard link without a name")
    try:
        source_parts = member_parts(archive, link)
    except DataError:
        raise _refuse(
            archive, name, f"is a hard link to {link!r}, which is outside the target directory"
        ) from None
    source = root.joinpath(*source_parts)
    if not source_parts or not source.is_file() or source.is_symlink() or not _inside(source, root):
        raise _refuse(
            archive,
            name,
            f"is a hard link to {link!r}, which is not a regular file extracted from this archive",
        )
    target = _target(archive, root, name, parts)
    _clear(archive, name, target)
    try:
        os.link(source, target)
    except OSError:  # file systems without hard links: a copy holds the same bytes
        shutil.copyfile(source, target, follow_symlinks=False)


def _extract_tar(archive: Path, root: Path) -> None:
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:  # streaming: one pass, even for a compressed archive
            name = member.name
            parts = member_parts(archive, name)
            if member.isdir():
                _make_dir(archive, root, name, parts)
            elif member.isreg():
                with tar.extractfile(member) as source:
                    _write_file(archive, root, name, parts, source)
            elif member.issym():
                _make_symlink(archive, root, name, parts, member.linkname)
            elif member.islnk():
                _make_hardlink(archive, root, name, parts, member.linkname)
            else:
                kind = _SPECIAL.get(member.type, f"of unsupported type {member.type!r}")
                raise _refuse(archive, name, f"is {kind}; audio data never needs one")


def _extract_zip(archive: Path, root: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = info.filename
            parts = member_parts(archive, name)
            # Unix zips keep st_mode in the high 16 bits; 0 means "no Unix information" (a plain file).
            file_type = stat.S_IFMT(info.external_attr >> 16)
            if name.endswith("/") or file_type == stat.S_IFDIR:  # is_dir() fails on an empty name
                _make_dir(archive, root, name, parts)
            elif file_type == stat.S_IFLNK:
                link = zf.read(info).decode("utf-8", errors="surrogateescape")
                _make_symlink(archive, root, name, parts, link)
            elif file_type in (0, stat.S_IFREG):
                try:
                    with zf.open(info) as source:
                        _write_file(archive, root, name, parts, source)
                except RuntimeError as exc:  # encrypted members
                    raise _refuse(archive, name, f"cannot be read ({exc})") from exc
            else:
                raise _refuse(
                    archive, name, f"is a special file (mode {oct(file_type)}); audio data never needs one"
                )


def _check_symlinks(archive: Path, root: Path) -> None:
    """Re-check every symlink once all exist: a chain of in-tree links can still resolve outside."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path.is_symlink() and not _inside(path, root):
                member = path.relative_to(root).as_posix()
                raise _refuse(
                    archive, member, f"is a symlink to {os.readlink(path)!r}, which resolves outside"
                )


def _move_into(archive: Path, root: Path, dest_dir: Path) -> list[Path]:
    """Rename every extracted entry into `dest_dir`, keeping the archive's folder structure."""
    placed: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        relative = Path(dirpath).relative_to(root)
        target_dir = dest_dir / relative
        if relative != Path("."):
            if target_dir.is_symlink() or (target_dir.exists() and not target_dir.is_dir()):
                raise DataError(
                    f"cannot extract {archive} into {dest_dir}: {target_dir} exists and is not a plain "
                    "directory. Move it away and fetch again."
                )
            target_dir.mkdir(exist_ok=True)
        linked_dirs = [d for d in dirnames if Path(dirpath, d).is_symlink()]
        dirnames[:] = sorted(d for d in dirnames if d not in linked_dirs)
        for name in sorted(filenames + linked_dirs):
            target = target_dir / name
            if target.is_dir() and not target.is_symlink():
                raise DataError(
                    f"cannot extract {archive} into {dest_dir}: {target} is a directory but the archive "
                    "holds a file of that name. Move the directory away and fetch again."
                )
            os.replace(Path(dirpath, name), target)
            placed.append(target)
    return sorted(placed)
