"""Stage 0: make env_root/<task>/ hold the task's audio shards, from whichever source the task has.

Sources: an offline generator (audio made on this machine), a Zenodo record, or shards the user
placed by hand (private tasks). Each ends with the marker `.audio_tar_ready` (upstream's name) holding
what was placed, written last; a task directory without it is not ready.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from filelock import FileLock

from xares.data.shards import find_shards
from xares.errors import DataError
from xares.faults import failpoint
from xares.store import write_json_atomic
from xares.taskconfig import TaskConfig

logger = logging.getLogger(__name__)

READY_MARKER = ".audio_tar_ready"


def is_acquired(config: TaskConfig) -> bool:
    return (config.task_dir / READY_MARKER).is_file()


def acquire(config: TaskConfig, *, base_url: str | None = None, progress: bool = False) -> None:
    """Fetch or generate the task's shards unless they are already in place."""
    if is_acquired(config) and not config.force_download:
        return
    env_root = Path(config.env_root)
    env_root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(env_root / f".{config.name}.acquire.lock")):
        if is_acquired(config) and not config.force_download:
            return  # another process finished it while we waited
        started = time.perf_counter()
        if config.generator is not None:
            placed, source = _generate(config), "generated on this machine"
        elif config.zenodo_id and not config.private:
            placed, source = (
                _download(config, base_url=base_url, progress=progress),
                f"zenodo:{config.zenodo_id}",
            )
        else:
            placed, source = _user_shards(config), "placed by the user"
        write_json_atomic(
            config.task_dir / READY_MARKER,
            {
                "source": source,
                "files": {p.name: p.stat().st_size for p in sorted(placed)},
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        logger.info("%s: audio ready (%s, %d files)", config.name, source, len(placed))


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
        placed = []
        for path in produced:
            target = task_dir / path.name
            os.replace(path, target)
            placed.append(target)
            failpoint("acquire.placing")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for split in config.data_splits():
        find_shards(task_dir, config.shard_pattern(split))
    return placed


def _download(config: TaskConfig, *, base_url: str | None, progress: bool) -> list[Path]:
    from xares.data.zenodo import fetch_record

    cache_dir = Path(config.env_root) / ".downloads"
    return fetch_record(
        config.zenodo_id, config.task_dir, cache_dir=cache_dir, base_url=base_url, progress=progress
    )


def _user_shards(config: TaskConfig) -> list[Path]:
    try:
        shards = [
            p
            for split in config.data_splits()
            for p in find_shards(config.task_dir, config.shard_pattern(split))
        ]
    except DataError as exc:
        raise DataError(
            f"task {config.name!r} has no download source (private or without zenodo_id) and its shards are "
            f"not in place: {exc}"
        ) from exc
    return shards
