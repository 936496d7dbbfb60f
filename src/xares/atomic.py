"""The one atomic writer: every JSON file X-ARES writes goes through here.

A reader must never see a half-written file, and a crash or interrupt must leave the previous version
intact: the payload goes to a temporary file in the destination folder, is fsynced, given the mode the
user's umask asks for (mkstemp creates 0600, which breaks an env root shared by a group), then renamed
over the destination.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from xares.errors import ArtifactError
from xares.faults import failpoint


def write_json_atomic(path: Path, payload: Any, *, indent: int | None = 2) -> None:
    """Write `payload` as JSON to `path` atomically; a full disk is an ArtifactError that says so."""
    path = Path(path)
    try:
        _write_json(path, payload, indent)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise ArtifactError(
            f"no space left on the device while writing {path}; the previous version (if any) is intact "
            "and no partial file was kept. Free space and run again."
        ) from exc


def _write_json(path: Path, payload: Any, indent: int | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=indent, ensure_ascii=False, default=_json_default)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, shared_file_mode())
        failpoint("json.before_replace")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def shared_file_mode() -> int:
    """The mode the user's umask gives a new ordinary file (0644 under the usual 022). mkstemp makes
    0600, which would lock the rest of a group out of a shared env root."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _json_default(value: Any) -> Any:
    import numpy as np  # numpy values only reach here from the stages, which have it loaded already

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
