"""XARES-LLM's own shards (the Hugging Face dataset mispeech/xares_llm_data, tar.gz webdataset),
acquired like every other X-ARES source: through huggingface_hub (resumable: an interrupted file
continues where it stopped), one lock per file so that parallel runs never write the same file, and a
hash check of every file against the SHA-256 the hub declares for it (a mismatch deletes the file and
says so). A verified file gets a marker and is not asked for again.

The shard lists come from published.json (the Task 1 YAML files' `data` patterns, with upstream's
brace ranges such as `train_0000{00..51}.tar.gz`). HF_ENDPOINT or `endpoint=` points at a mirror.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock

from xares.atomic import write_json_atomic
from xares.data.shards import expand_braces
from xares.data.zenodo import file_digest
from xares.errors import DataError
from xares.llm.protocol import published_table

MARKER_SUFFIX = ".verified.json"


def shard_names(datasets: list[str] | None = None, *, side: str = "train") -> list[str]:
    """The repository paths of the Task 1 shards of `datasets` (all of them when None), train or eval."""
    if side not in ("train", "eval"):
        raise ValueError(f"side must be 'train' or 'eval', got {side!r}")
    table = published_table()["task1"][side]
    unknown = sorted(set(datasets or []) - set(table))
    if unknown:
        raise DataError(f"unknown XARES-LLM dataset(s) {unknown}; the Task 1 datasets are {sorted(table)}")
    names = []
    for name in datasets or sorted(table):
        for pattern in table[name]["data"]:
            names.extend(expand_braces(pattern))
    return names


def _declared_sha256(
    repo_id: str, filename: str, revision: str, endpoint: str | None
) -> tuple[str | None, int | None]:
    """The SHA-256 and size the hub declares for a file (an LFS file's ETag is its SHA-256)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(repo_id, filename, repo_type="dataset", revision=revision, endpoint=endpoint)
    metadata = get_hf_file_metadata(url)
    etag = (metadata.etag or "").strip('"')
    return (etag if re.fullmatch(r"[0-9a-f]{64}", etag) else None), metadata.size


def acquire_shards(
    names: list[str],
    destination: str | Path,
    *,
    repo_id: str | None = None,
    revision: str = "main",
    endpoint: str | None = None,
    on_file: Callable[[str], Any] | None = None,
) -> list[Path]:
    """Download every named shard into `destination` (its repository path kept), verified; return the
    local paths. Files already verified are not fetched again."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise ImportError(
            "downloading XARES-LLM data needs huggingface_hub: `pip install huggingface_hub`"
        ) from exc
    repo_id = repo_id or published_table()["data_repository"]["repo_id"]
    root = Path(destination)
    (root / ".locks").mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        target = root / name
        marker = target.with_name(target.name + MARKER_SUFFIX)
        with FileLock(str(root / ".locks" / (name.replace("/", "__") + ".lock"))):
            if not _verified(target, marker):
                sha256, size = _declared_sha256(repo_id, name, revision, endpoint)
                try:
                    hf_hub_download(
                        repo_id,
                        name,
                        repo_type="dataset",
                        revision=revision,
                        local_dir=root,
                        endpoint=endpoint,
                    )
                except Exception as exc:
                    raise DataError(
                        f"{repo_id}/{name}: download failed ({type(exc).__name__}: {exc}). Run the command "
                        "again to resume it, or fetch the file by hand (`hf download "
                        f"{repo_id} {name} --repo-type dataset --local-dir {root}`)."
                    ) from exc
                actual, length = file_digest(target), target.stat().st_size
                if (sha256 is not None and actual != sha256) or (size is not None and length != size):
                    target.unlink(missing_ok=True)
                    raise DataError(
                        f"{repo_id}/{name}: the downloaded file has SHA-256 {actual} and {length} bytes, the "
                        f"hub declares {sha256} and {size} bytes; it was deleted. Run the command again."
                    )
                write_json_atomic(marker, {"sha256": actual, "size": length, "revision": revision})
        paths.append(target)
        if on_file is not None:
            on_file(name)
    return paths


def _verified(target: Path, marker: Path) -> bool:
    if not target.is_file() or not marker.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return recorded.get("size") == target.stat().st_size
