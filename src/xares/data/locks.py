"""Inter-process locks that say who holds them: a process that must wait says for whom, and that it waits.

A bare `FileLock.acquire()` blocks in silence, so a second `xares fetch` on the same env root looked
hung for the whole download of the first. Here the holder writes `<lock>.owner` (pid, host, since, the
command line) once it has the lock, and a process that finds the lock taken reads it, says who holds
it and that it waits, and repeats that every `report_every_s` until it gets the lock.

The owner file is a separate file because filelock truncates the lock file when it opens it, so a
waiter would wipe what the holder wrote there. The holder removes the owner file before releasing the
lock (after would remove the next holder's). Lock files are created with the mode the umask gives, so
an env root shared by a group stays usable by all its members.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from xares.atomic import shared_file_mode, write_json_atomic

logger = logging.getLogger(__name__)


def owner_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".owner")


def describe_owner(lock_path: Path) -> str:
    """'pid 123 on host h (since 02:15:07 UTC, `xares fetch ...`)', or why the holder is unknown."""
    try:
        owner = json.loads(owner_path(lock_path).read_text(encoding="utf-8"))
        pid, host = int(owner["pid"]), str(owner["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"another process (it has not written {owner_path(lock_path).name} yet)"
    since = owner.get("since")
    when = (
        datetime.fromtimestamp(float(since), timezone.utc).strftime("%H:%M:%S UTC")
        if isinstance(since, (int, float))
        else "an unknown time"
    )
    here = " (this machine)" if host == socket.gethostname() else ""
    command = owner.get("command")
    return f"pid {pid} on host {host}{here}, since {when}" + (f", running `{command}`" if command else "")


@contextlib.contextmanager
def announced_lock(lock_path: Path, what: str, *, report_every_s: float = 60.0) -> Iterator[None]:
    """Hold the lock at `lock_path` for the block; `what` names what it guards, for the waiting message."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path), mode=shared_file_mode())
    try:
        lock.acquire(timeout=0)
    except Timeout:
        started = time.monotonic()
        logger.warning(
            "%s: %s holds the lock %s; waiting for it to finish (this process goes on by itself "
            "once the lock is free)",
            what,
            describe_owner(lock_path),
            lock_path,
        )
        while True:
            try:
                lock.acquire(timeout=report_every_s)
                break
            except Timeout:
                logger.warning(
                    "%s: still waiting for %s (%.0f s so far)",
                    what,
                    describe_owner(lock_path),
                    time.monotonic() - started,
                )
        logger.warning("%s: the lock is free after %.0f s; going on", what, time.monotonic() - started)
    try:
        write_json_atomic(
            owner_path(lock_path),
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": time.time(),
                "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300],
            },
        )
        yield
    finally:
        owner_path(lock_path).unlink(missing_ok=True)
        lock.release()
