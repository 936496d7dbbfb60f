"""Stage 0: make env_root/<task>/ hold the task's audio shards, from whichever source the task has.

Sources: an offline generator (audio made on this machine), a Zenodo record, or shards the user
placed by hand (private tasks). Each ends with the marker `.audio_tar_ready` (upstream's name) holding
what was placed, written last; a task directory without it is not ready.

The marker is written only once every split the task uses (the mini selection under --mini) has a shard
matching its pattern, and it is trusted only while that still holds: a record that lacks one split's
file, a task file whose patterns changed, or a shard deleted by hand sends stage 0 back to work (and to
an error that names the split) instead of into a loop of "ready" followed by "run stage 0".
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xares.data.shards import expand_braces, find_shards
from xares.errors import DataError
from xares.faults import failpoint
from xares.store import write_json_atomic
from xares.taskconfig import TaskConfig

if TYPE_CHECKING:
    from xares.data.zenodo import RecordFile, RetryPolicy

logger = logging.getLogger(__name__)

READY_MARKER = ".audio_tar_ready"


def is_acquired(config: TaskConfig) -> bool:
    """True when the marker lists, for every split the task uses now, shards still in place at their size."""
    try:
        listed = json.loads((config.task_dir / READY_MARKER).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):  # absent, not JSON, or not a dict with "files"
        return False
    try:
        needed = _split_shards(config)
    except DataError:
        return False
    return isinstance(listed, dict) and all(
        p.name in listed and listed[p.name] == p.stat().st_size for p in needed
    )


def _split_shards(config: TaskConfig) -> list[Path]:
    """Every shard the task's splits use now (raises DataError naming the first split without one)."""
    return [
        p for split in config.data_splits() for p in find_shards(config.task_dir, config.shard_pattern(split))
    ]


def missing_splits(config: TaskConfig) -> list[tuple[Any, str, list[str]]]:
    """(split, pattern, absent file names) of every split the task uses that lacks a shard.

    A glob pattern lacks a shard when nothing matches (absent names: empty); a fixed or brace-listed
    one when any name it lists is absent.
    """
    missing = []
    for split in config.data_splits():
        pattern = config.shard_pattern(split)
        try:
            find_shards(config.task_dir, pattern)
        except DataError:
            absent = [
                name
                for name in expand_braces(pattern)
                if not any(c in name for c in "*?[") and not (config.task_dir / name).is_file()
            ]
            missing.append((split, pattern, absent))
    return missing


def _check_complete(config: TaskConfig, placed: list[Path], source: str) -> None:
    """Refuse to call the task ready while a split has no shard; the error names the split and the fix."""
    missing = missing_splits(config)
    if not missing:
        return
    selection = "mini selection" if config.use_mini_dataset else "shard patterns"
    splits = "; ".join(
        f"split {split!r} needs {pattern!r}" + (f" (absent: {', '.join(absent)})" if absent else "")
        for split, pattern, absent in missing
    )
    names = sorted({p.name for p in placed})
    held = ", ".join(names[:12]) + (f", ... ({len(names)} files)" if len(names) > 12 else "")
    raise DataError(
        f"task {config.name!r} is not ready: {source} gave no shard for {len(missing)} of its "
        f"{len(config.data_splits())} splits ({splits}; the task's {selection}). "
        f"It holds: {held or 'nothing'}. "
        f"Check the task file's zenodo_id and audio_tar_name_of_split, or place the missing shards in "
        f"{config.task_dir} by hand and run stage 0 again."
    )


def acquire(
    config: TaskConfig,
    *,
    base_url: str | None = None,
    progress: bool = False,
    retry: RetryPolicy | None = None,
) -> None:
    """Fetch or generate the task's shards unless they are already in place.

    retry: how downloads wait and give up (`xares fetch --max-retry-after/--read-timeout`); None reads
    the defaults and their environment variables.
    """
    if is_acquired(config) and not config.force_download:
        return
    env_root = Path(config.env_root)
    env_root.mkdir(parents=True, exist_ok=True)
    from xares.data.locks import announced_lock  # filelock, only when a task is acquired

    with announced_lock(env_root / f".{config.name}.acquire.lock", f"task {config.name} (stage 0)"):
        if is_acquired(config) and not config.force_download:
            return  # another process finished it while we waited
        started = time.perf_counter()
        if config.generator is not None:
            placed, source = _generate(config), "generated on this machine"
            verified, verified_by = True, "made on this machine by the task's generator"
        elif config.zenodo_id and not config.private:
            placed, source, verified, verified_by = _download(
                config, base_url=base_url, progress=progress, retry=retry
            )
        else:
            placed, source = _user_shards(config), "placed by the user"
            verified, verified_by = False, "nothing to check against: the task has no download source"
        _check_complete(config, placed, _source_words(config, source))
        write_json_atomic(
            config.task_dir / READY_MARKER,
            {
                "source": source,
                "verified": verified,
                "verified_by": verified_by,
                "files": {p.name: p.stat().st_size for p in sorted(set(placed) | set(_split_shards(config)))},
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        logger.info("%s: audio ready (%s, %d files)", config.name, source, len(placed))


def _source_words(config: TaskConfig, source: str) -> str:
    if source.startswith("zenodo:"):
        return f"Zenodo record {config.zenodo_id}"
    return "its generator" if config.generator is not None else "the shards placed by hand"


def _generate(config: TaskConfig) -> list[Path]:
    task_dir = config.task_dir
    task_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=task_dir.parent, prefix=f".{config.name}.generating-"))
    try:
        config.generator(scratch)
        failpoint("acquire.generated")
        produced = sorted(p for p in scratch.iterdir() if p.is_file())
        if not produced:
            raise DataError(f"task {config.name!r}: its generator wrote no files into {scratch}")
        placed = [task_dir / path.name for path in produced]
        for path, target in zip(produced, placed, strict=True):
            os.replace(path, target)
            failpoint("acquire.placing")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return placed


def _download(
    config: TaskConfig, *, base_url: str | None, progress: bool, retry: RetryPolicy | None
) -> tuple[list[Path], str, bool, str]:
    """(placed files, source, verified, how): the record's files, or offline the shards placed by hand.

    With the record's listing (fetched now or cached from an earlier run) every file, downloaded or
    placed by hand, is checked against its md5. Without it (the server cannot be reached) shards
    that already cover every split are used as they are, and the marker says they were not checked.
    """
    from xares.data.zenodo import ServerUnreachable, fetch_record

    cache_dir = Path(config.env_root) / ".downloads"
    try:
        placed = fetch_record(
            config.zenodo_id,
            config.task_dir,
            cache_dir=cache_dir,
            base_url=base_url,
            progress=progress,
            retry=retry,
            check_listing=lambda files: _check_listing(config, files),
        )
    except ServerUnreachable as exc:
        missing = missing_splits(config)
        if missing:
            needed = "; ".join(f"split {split!r}: {pattern!r}" for split, pattern, _ in missing)
            raise DataError(
                f"{exc} Stage 0 needs that listing, or the task's shards placed by hand in "
                f"{config.task_dir} (missing: {needed}). With every split in place it goes on without "
                "a listing (and checks the shards against the record's md5s whenever it can list it); "
                "`xares run --from-stage 1` skips stage 0 altogether."
            ) from exc
        shards = _split_shards(config)
        logger.warning(
            "%s: Zenodo record %s could not be listed, so the %d shards already in %s (placed by hand, "
            "or left by an earlier fetch) are used without checking their md5s. To check them later, "
            "delete %s and run stage 0 with the server reachable.",
            config.name,
            config.zenodo_id,
            len(shards),
            config.task_dir,
            config.task_dir / READY_MARKER,
        )
        reason = str(exc).split(". ")[0]
        source = f"placed by the user; Zenodo record {config.zenodo_id} could not be listed"
        return shards, source, False, f"not checked: {reason}"
    how = f"md5 and size of every file against the listing of Zenodo record {config.zenodo_id}"
    return placed, f"zenodo:{config.zenodo_id}", True, how


def _check_listing(config: TaskConfig, files: list[RecordFile]) -> None:
    """Before downloading: refuse a record of plain shards in which a split has no file.

    Shards may also come out of an archive of the record, or be placed by hand, so a split is only
    missing when no file of the record and no file already in the task directory matches it.
    """
    from xares.data.zenodo import ARCHIVE_SUFFIXES

    keys = [f.key for f in files]
    if any(key.lower().endswith(ARCHIVE_SUFFIXES) for key in keys):
        return  # what the archives hold is known only once they are extracted
    problems = []
    for split, pattern, _ in missing_splits(config):
        names = expand_braces(pattern)
        absent = [n for n in names if not any(fnmatch.fnmatchcase(key, n) for key in keys)]
        if absent:
            problems.append(f"split {split!r} needs {pattern!r} (not in the record: {', '.join(absent)})")
    if problems:
        held = ", ".join(keys[:12]) + (f", ... ({len(keys)} files)" if len(keys) > 12 else "")
        raise DataError(
            f"task {config.name!r} cannot be made ready from Zenodo record {config.zenodo_id}: "
            f"{'; '.join(problems)}. The record holds: {held}. Nothing was downloaded. Check the task "
            f"file's zenodo_id and audio_tar_name_of_split, or place the missing shards in "
            f"{config.task_dir} by hand and run stage 0 again."
        )


def _user_shards(config: TaskConfig) -> list[Path]:
    try:
        return _split_shards(config)
    except DataError as exc:
        raise DataError(
            f"task {config.name!r} has no download source (private or without zenodo_id) and its shards are "
            f"not in place: {exc}"
        ) from exc
