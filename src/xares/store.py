"""The embedding store: one directory per (task, encoder fingerprint, split).

Layout of a split directory:

    frames.bin     all clips' frames back to back, [total_frames, D], float16 by default (raw, memmapped)
    offsets.npy    int64 [N + 1]: clip i owns frames[offsets[i]:offsets[i + 1]]
    pooled.npy     float32 [N, D]: each clip's mean over its own frames, computed before the float16 cast
    samples.jsonl  one line per clip: key, shard, crop index, number of audio samples, and its raw JSON
    manifest.json  the key (task data fingerprint, encoder fingerprint), shapes, counts, timings

A multi-layer encoder (num_layers = L) keeps every layer: frames [total_frames, L, D] and pooled
[N, L, D], with "num_layers": L in the manifest. A manifest without it (every single-layer store,
including those written before layers existed) is the 2-D layout above, i.e. L = 1.
`SplitEmbeddings.layer(k)` is one layer of either as a 2-D split, without copying the frames.

A split is written into a temporary sibling directory and renamed into place only when complete; the
manifest is the last file written inside it. A directory without a matching manifest does not exist
as far as every reader is concerned.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xares.atomic import write_json_atomic  # noqa: F401 (callers import it from here too)
from xares.errors import ArtifactError
from xares.faults import failpoint

STORE_FORMAT = 1


@dataclass
class SplitEmbeddings:
    """A complete split, read back with zero copies of the frames."""

    frames: np.ndarray  # memmap [total_frames, D]
    offsets: np.ndarray  # [N + 1]
    pooled: np.ndarray  # [N, D] float32
    samples: list[dict]
    manifest: dict

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def num_layers(self) -> int:
        """L of a multi-layer store ([frames, L, D]); 1 for the 2-D layout."""
        return int(self.frames.shape[1]) if self.frames.ndim == 3 else 1

    @property
    def has_layer_axis(self) -> bool:
        return self.frames.ndim == 3

    def layer(self, index: int) -> SplitEmbeddings:
        """Layer `index` (negative from the end) as a 2-D split; the frames stay a view of the store."""
        if not self.has_layer_axis:
            if index not in (0, -1):
                raise IndexError(f"layer {index} of a single-layer store (only 0 or -1)")
            return self
        if not -self.num_layers <= index < self.num_layers:
            raise IndexError(f"layer {index} of a store with {self.num_layers} layers")
        pooled = np.ascontiguousarray(self.pooled[:, index])
        return dataclasses.replace(self, frames=self.frames[:, index], pooled=pooled)

    def clip_frames(self, index: int) -> np.ndarray:
        return self.frames[self.offsets[index] : self.offsets[index + 1]]

    def subset(self, indices: list[int]) -> SplitEmbeddings:
        """The chosen clips only, as a new in-memory split (frames copied; used when clips are dropped)."""
        parts = [np.asarray(self.clip_frames(i)) for i in indices]
        return dataclasses.replace(
            self,
            frames=np.concatenate(parts) if parts else self.frames[:0],
            offsets=np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64),
            pooled=self.pooled[indices],
            samples=[self.samples[i] for i in indices],
        )


class SplitWriter:
    """Accumulates encoded clips of one split and commits them atomically with `commit()`."""

    def __init__(
        self,
        final_dir: Path,
        key: dict[str, Any],
        *,
        dim: int,
        frame_dtype: str = "float16",
        num_layers: int | None = None,
    ) -> None:
        self.final_dir = final_dir
        self.key = key
        self.dim = dim
        self.num_layers = num_layers  # None: frames [T, D]; L: frames [T, L, D]
        self.frame_dtype = np.dtype(frame_dtype)
        final_dir.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=f".{final_dir.name}.tmp-"))
        self._frames = open(self.tmp_dir / "frames.bin", "wb")  # noqa: SIM115 - closed in commit/abort
        self._samples = open(self.tmp_dir / "samples.jsonl", "w", encoding="utf-8")  # noqa: SIM115
        self._offsets = [0]
        self._pooled: list[np.ndarray] = []
        self._started = time.perf_counter()

    def add(self, frames: np.ndarray, record: dict[str, Any]) -> None:
        """Append one clip's frames [T, D] (or [T, L, D] for a multi-layer store; float32) and its record."""
        inner = (self.dim,) if self.num_layers is None else (self.num_layers, self.dim)
        if frames.shape[1:] != inner or frames.shape[0] < 1:
            raise ArtifactError(
                f"clip {record.get('key')!r}: frames of shape {frames.shape} do not fit [T, "
                f"{', '.join(map(str, inner))}]"
            )
        if not np.isfinite(frames).all():
            raise ArtifactError(
                f"shard {record.get('shard')}, sample {record.get('key')!r}: the encoder produced NaN or Inf "
                "frames. Check the encoder on this clip (log of zero? division by a zero norm?)."
            )
        self._pooled.append(frames.mean(axis=0, dtype=np.float64).astype(np.float32))
        self._frames.write(np.ascontiguousarray(frames, dtype=self.frame_dtype).tobytes())
        self._offsets.append(self._offsets[-1] + frames.shape[0])
        self._samples.write(json.dumps(record, ensure_ascii=False) + "\n")

    def commit(self, extra: dict[str, Any] | None = None) -> Path:
        count = len(self._pooled)
        if count == 0:
            self.abort()
            raise ArtifactError(f"{self.final_dir}: refusing to store an empty split")
        for handle in (self._frames, self._samples):
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        np.save(self.tmp_dir / "offsets.npy", np.asarray(self._offsets, dtype=np.int64))
        np.save(self.tmp_dir / "pooled.npy", np.stack(self._pooled))
        manifest = {
            "format": STORE_FORMAT,
            "key": self.key,
            "num_clips": count,
            "num_frames": int(self._offsets[-1]),
            "dim": self.dim,
            **({"num_layers": self.num_layers} if self.num_layers is not None else {}),
            "frame_dtype": self.frame_dtype.name,
            "seconds": round(time.perf_counter() - self._started, 3),
            **(extra or {}),
        }
        failpoint("store.before_manifest")
        write_json_atomic(self.tmp_dir / "manifest.json", manifest)
        failpoint("store.before_rename")
        if self.final_dir.exists():  # a stale or foreign split under the same name: replace it
            shutil.rmtree(self.final_dir)
        os.replace(self.tmp_dir, self.final_dir)
        return self.final_dir

    def abort(self) -> None:
        for handle in (self._frames, self._samples):
            handle.close()  # a no-op for the handles commit() has closed already
        shutil.rmtree(self.tmp_dir, ignore_errors=True)


def read_manifest(split_dir: Path) -> dict | None:
    try:
        return json.loads((split_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def is_complete(split_dir: Path, key: dict[str, Any]) -> bool:
    """True only for a committed split written under exactly this key."""
    manifest = read_manifest(split_dir)
    return manifest is not None and manifest.get("format") == STORE_FORMAT and manifest.get("key") == key


def _load_array(path: Path) -> np.ndarray:
    """np.load without pickles: a store never holds objects, so one that does is damaged or hostile."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            f"{path}: not a plain numeric array ({exc}); delete the split and re-encode."
        ) from exc


def load_split(split_dir: Path, key: dict[str, Any]) -> SplitEmbeddings:
    """Open a committed split; refuse anything partial, foreign or truncated."""
    manifest = read_manifest(split_dir)
    if manifest is None or manifest.get("key") != key or manifest.get("format") != STORE_FORMAT:
        raise ArtifactError(
            f"{split_dir}: no complete embeddings for this task and encoder. Run the encode stage "
            "(stage 1) again; it rewrites the split."
        )
    dtype = np.dtype(manifest["frame_dtype"])
    layers = manifest.get("num_layers")
    shape = (manifest["num_frames"], *([layers] if layers is not None else []), manifest["dim"])
    frames_path = split_dir / "frames.bin"
    expected = int(np.prod(shape)) * dtype.itemsize
    if not frames_path.is_file() or frames_path.stat().st_size != expected:
        raise ArtifactError(
            f"{frames_path}: expected {expected} bytes for {shape} {dtype.name}; the store is damaged. "
            f"Delete {split_dir} and run stage 1 again."
        )
    frames = np.memmap(frames_path, dtype=dtype, mode="r", shape=shape)
    offsets = _load_array(split_dir / "offsets.npy")
    pooled = _load_array(split_dir / "pooled.npy")
    with open(split_dir / "samples.jsonl", encoding="utf-8") as handle:
        samples = [json.loads(line) for line in handle]
    counts_agree = len(samples) == manifest["num_clips"] == len(pooled) == len(offsets) - 1
    if not counts_agree or pooled.shape[1:] != shape[1:]:
        raise ArtifactError(
            f"{split_dir}: index and arrays disagree on the number of clips or their shape; delete it and "
            "re-encode."
        )
    return SplitEmbeddings(frames=frames, offsets=offsets, pooled=pooled, samples=samples, manifest=manifest)
