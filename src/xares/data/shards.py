"""Audio shards in the X-ARES webdataset format: plain tars of `<key>.<audio ext>` + `<key>.json`.

Reading is streaming (one pass, members grouped by key as webdataset does), so a shard never has
to fit in memory and a truncated tar is noticed at the sample where it breaks.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
import soxr

from xares.atomic import shared_file_mode
from xares.errors import DataError

_RANGE = re.compile(r"\{(\d+)\.\.(\d+)\}")
_CHOICE = re.compile(r"\{([^{}]*,[^{}]*)\}")

# Upstream's priority order when one sample carries several audio members.
AUDIO_EXTENSIONS: tuple[str, ...] = ("flac", "mp3", "sox", "wav", "m4a", "ogg", "wma")


@dataclass
class RawSample:
    """One sample as stored in a shard: undecoded audio bytes plus its parsed JSON."""

    key: str
    audio: bytes
    audio_ext: str
    meta: dict
    shard: Path
    extra: dict[str, bytes] = field(default_factory=dict)


def split_member_name(name: str) -> tuple[str, str]:
    """webdataset's rule: the key is everything before the first '.' of the file's base name."""
    directory, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    key = f"{directory}/{stem}" if directory else stem
    return key, ext.lower() if dot else ""


def _assemble(key: str, members: dict[str, bytes], shard: Path) -> RawSample:
    audio_exts = [ext for ext in AUDIO_EXTENSIONS if ext in members]
    if not audio_exts:
        raise DataError(
            f"{shard}: sample {key!r} has no audio member (found {sorted(members)}; expected one of "
            f"{', '.join(AUDIO_EXTENSIONS)}). Rebuild the shard with an audio file per key."
        )
    if "json" not in members:
        raise DataError(
            f"{shard}: sample {key!r} has no .json member with its labels. "
            "Every sample needs <key>.json next to its audio."
        )
    try:
        meta = json.loads(members["json"].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(
            f"{shard}: sample {key!r} has a .json member that is not valid UTF-8 JSON ({exc}). "
            "Fix or remove that sample and rebuild the shard."
        ) from exc
    ext = audio_exts[0]
    extra = {k: v for k, v in members.items() if k not in (ext, "json")}
    return RawSample(key=key, audio=members[ext], audio_ext=ext, meta=meta, shard=shard, extra=extra)


def iter_shard(
    path: str | os.PathLike, on_error: Callable[[DataError], None] | None = None
) -> Iterator[RawSample]:
    """Yield the samples of one shard in stored order.

    A bad sample (unreadable JSON, a missing member, a key repeated or not UTF-8) raises DataError
    naming shard and key; with `on_error`, it is reported there and skipped instead. A damaged tar
    ends the shard at the last complete sample, reported the same way.
    """
    path = Path(path)
    current_key: str | None = None
    members: dict[str, bytes] = {}
    seen_keys: set[str] = set()
    bad_key = False

    def report(error: DataError | str) -> None:
        error = DataError(error) if isinstance(error, str) else error
        if on_error is None:
            raise error
        on_error(error)

    def finish() -> Iterator[RawSample]:
        if current_key is None or bad_key:
            return
        try:
            sample = _assemble(current_key, members, path)
        except DataError as error:
            report(error)
            return
        yield sample

    try:
        with tarfile.open(path, mode="r|") as tar:
            for info in tar:
                if not info.isfile():
                    continue
                key, ext = split_member_name(info.name)
                if key != current_key:
                    yield from finish()
                    current_key, members = key, {}
                    bad_key = key in seen_keys or not _is_utf8(key)
                    if key in seen_keys:
                        report(
                            f"{path}: key {key!r} appears twice, apart. Keys must be unique and a "
                            "sample's members adjacent; rebuild the shard."
                        )
                    elif bad_key:
                        report(
                            f"{path}: the member name {info.name!r} is not valid UTF-8. Rename the file "
                            "(keys are UTF-8 text) and rebuild the shard."
                        )
                    seen_keys.add(key)
                if bad_key:
                    continue
                if ext in members:
                    bad_key = True
                    report(
                        f"{path}: sample {key!r} has two '.{ext}' members. Keys must be unique; rebuild "
                        "the shard."
                    )
                    continue
                handle = tar.extractfile(info)
                members[ext] = handle.read() if handle is not None else b""
    except (tarfile.TarError, EOFError, OSError) as exc:
        error = DataError(
            f"{path}: the tar is damaged after sample {current_key!r} ({type(exc).__name__}: {exc}). "
            "Delete the file and fetch or rebuild it."
        )
        if on_error is None:
            raise error from exc
        on_error(error)
        return
    yield from finish()


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # tarfile keeps undecodable bytes as lone surrogates
        return False
    return True


def find_shards(task_dir: Path, pattern: str) -> list[Path]:
    """Shards matching an upstream pattern (`train*.tar`, brace lists allowed), sorted by name."""
    paths: list[Path] = []
    for one in expand_braces(pattern):
        paths.extend(sorted(task_dir.glob(one)) if any(c in one for c in "*?[") else [task_dir / one])
    missing = [p for p in paths if not p.is_file()]
    if not paths or missing:
        what = missing[0] if missing else task_dir / pattern
        raise DataError(
            f"no audio shard found at {what}. Run stage 0 (acquire) for this task, or place the task's "
            f"tar shards matching {pattern!r} in {task_dir}."
        )
    return paths


def expand_braces(pattern: str) -> list[str]:
    """Upstream's shard patterns, as webdataset's braceexpand reads them: {a..b} numeric ranges
    (zero-padded to the width of `a` when it has a leading zero; b < a counts down) and {x,y} choices,
    expanded left to right; any other brace is a literal character."""
    found = [m for m in (_RANGE.search(pattern), _CHOICE.search(pattern)) if m is not None]
    if not found:
        return [pattern]
    match = min(found, key=lambda m: m.start())
    head, tail = pattern[: match.start()], pattern[match.end() :]
    if match.re is _RANGE:
        low, high = match.group(1), match.group(2)
        width = len(low) if low.startswith("0") and len(low) > 1 else 0
        step = 1 if int(high) >= int(low) else -1
        values = [str(v).zfill(width) for v in range(int(low), int(high) + step, step)]
    else:
        values = match.group(1).split(",")
    return [name for value in values for name in expand_braces(head + value + tail)]


def decode_audio(sample: RawSample, target_rate: int) -> np.ndarray:
    """Decode to float32 mono at `target_rate`: channels averaged, then resampled with soxr."""
    try:
        data, rate = soundfile.read(io.BytesIO(sample.audio), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise DataError(
            f"{sample.shard}: sample {sample.key!r} ({sample.audio_ext}, {len(sample.audio)} bytes) "
            f"could not be decoded ({decoder_message(exc)}). Re-encode that file as FLAC or WAV, or remove "
            "the sample."
        ) from exc
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if mono.size == 0:
        raise DataError(
            f"{sample.shard}: sample {sample.key!r} holds zero audio samples. Remove it from the shard."
        )
    if not np.isfinite(mono).all():
        raise DataError(
            f"{sample.shard}: sample {sample.key!r} contains NaN or Inf audio values. "
            "Replace the file with a valid recording."
        )
    if rate != target_rate:
        mono = soxr.resample(mono, rate, target_rate, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(mono)


def decode_many(samples: list[RawSample], target_rate: int, keep_errors: bool = False) -> list:
    """Decode a chunk of samples; the unit of work of a decoding process (one round trip per chunk).

    With keep_errors, a sample that cannot be decoded gives its DataError in place of a waveform.
    """
    if not keep_errors:
        return [decode_audio(sample, target_rate) for sample in samples]
    decoded: list = []
    for sample in samples:
        try:
            decoded.append(decode_audio(sample, target_rate))
        except DataError as error:
            decoded.append(error)
    return decoded


def decoder_message(exc: Exception) -> str:
    """libsndfile's message without the repr of our in-memory buffer."""
    return re.sub(r"Error opening <[^>]*>: ", "", str(exc)).rstrip(".")


def audio_to_bytes(
    wave: np.ndarray, rate: int, audio_format: str = "WAV", subtype: str | None = None
) -> bytes:
    """Serialise a waveform the way a shard member holds it (used by generators and tests)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, wave, rate, format=audio_format, subtype=subtype)
    return buffer.getvalue()


def shard_name(pattern: str, index: int) -> str:
    """Upstream's naming: '*' becomes '0' followed by the shard index padded to five digits."""
    return pattern.replace("*", f"0{index:05d}") if "*" in pattern else pattern


def write_shards(
    samples: Iterable[tuple[str, bytes, str, dict]],
    out_dir: Path,
    pattern: str,
    num_shards: int = 1,
) -> list[Path]:
    """Write (key, audio bytes, audio extension, json dict) samples into `num_shards` tars.

    Samples go to shards in order, ceil(N / num_shards) per shard, as upstream's tools do. Each
    tar is written to a temporary file and renamed, so a crash never leaves a half shard behind.
    """
    items = list(samples)
    if not items:
        raise DataError(f"refusing to write an empty split to {out_dir / pattern}")
    if num_shards < 1 or num_shards > len(items):
        raise DataError(f"cannot split {len(items)} samples into {num_shards} shards")
    per_shard = -(-len(items) // num_shards)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(num_shards):
        chunk = items[index * per_shard : (index + 1) * per_shard]
        if not chunk:
            break
        target = out_dir / shard_name(pattern, index)
        fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with (
                os.fdopen(fd, "wb") as raw,
                tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
            ):
                for key, audio, ext, meta in chunk:
                    add_member(tar, f"{key}.{ext}", audio)
                    add_member(tar, f"{key}.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))
            os.chmod(tmp_name, shared_file_mode())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        written.append(target)
    return written


def add_member(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = 0  # reproducible shards: same samples, same bytes
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(payload))
