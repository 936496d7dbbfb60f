"""Stage 1: audio shards -> embedding store, once per (task data, encoder fingerprint, split).

Clips are read in windows; within a window they are grouped by length into batches, encoded, and
written back in their original order, so the store (and every score computed from it) does not
depend on how clips happened to be batched. Padding never changes an embedding: encoders that
declare `frame_count` get padded batches whose outputs are trimmed to each clip's own frames (the
checker verifies the declaration); all other encoders only see batches of identical lengths.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xares.data.decoding import decode_in_order, default_decode_workers
from xares.data.shards import RawSample, find_shards, iter_shard
from xares.encoder import EncoderInfo
from xares.errors import EncoderError
from xares.store import SplitWriter
from xares.taskconfig import TaskConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodeOptions:
    """How the encode stage runs; none of these change an embedding beyond float tolerance."""

    device: str | None = None  # None: CUDA when available, else CPU
    decode_workers: int | None = None  # processes that decode and resample; None: one per CPU core
    window_clips: int = 256  # clips grouped into length-sorted batches at a time ...
    window_seconds: float = 600.0  # ... or fewer, so that memory stays flat for long clips
    lookahead_clips: int = 256  # decoded ahead by the workers while the encoder runs
    frame_dtype: str = "float16"


@dataclass
class Segment:
    """A piece of audio the encoder sees: a whole clip, or one crop of it."""

    wave: np.ndarray
    record: dict[str, Any]


@dataclass
class EncodeStats:
    clips: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0


def best_device(requested: str | None = None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def plan_batches(lengths: list[int], batch_size: int, pads_safely: bool) -> list[list[int]]:
    """Group clip indices into batches: by sorted length when padding is safe, else equal lengths only."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    if pads_safely:
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    batches: list[list[int]] = []
    for _, group in itertools.groupby(order, key=lambda i: lengths[i]):
        members = list(group)
        batches.extend(members[start : start + batch_size] for start in range(0, len(members), batch_size))
    return batches


def cut_crops(wave: np.ndarray, crop_samples: int | None) -> list[np.ndarray]:
    """Upstream's crop rule: back-to-back crops of crop_samples, remainder dropped, short clips padded."""
    if not crop_samples:
        return [wave]
    if wave.shape[0] < crop_samples:
        return [np.pad(wave, (0, crop_samples - wave.shape[0]))]
    count = wave.shape[0] // crop_samples
    return [wave[i * crop_samples : (i + 1) * crop_samples] for i in range(count)]


def encode_batch(
    encoder: torch.nn.Module, waves: list[np.ndarray], *, device: torch.device, pads_safely: bool
) -> list[np.ndarray]:
    """Run the encoder on one batch; return each clip's own frames as float32 [T_i, D]."""
    longest = max(w.shape[0] for w in waves)
    batch = np.zeros((len(waves), longest), dtype=np.float32)
    for row, wave in enumerate(waves):
        batch[row, : wave.shape[0]] = wave
    with torch.inference_mode():
        output = encoder(torch.from_numpy(batch).to(device, non_blocking=True))
    validate_output(output, batch_size=len(waves), dim=int(encoder.output_dim))
    output = output.float().cpu().numpy()
    if not pads_safely:
        return list(output)
    clips = []
    for row, wave in enumerate(waves):
        count = int(encoder.frame_count(wave.shape[0]))
        if count > output.shape[1] or count < 1:
            raise EncoderError(
                f"frame_count({wave.shape[0]}) = {count}, but the encoder produced {output.shape[1]} frames "
                "for the padded batch. Fix frame_count, or remove it."
            )
        clips.append(output[row, :count])
    return clips


def validate_output(output: Any, *, batch_size: int, dim: int) -> None:
    if not isinstance(output, torch.Tensor):
        raise EncoderError(f"the encoder returned {type(output).__name__}; expected a tensor [B, T', D].")
    if output.dim() != 3 or output.shape[0] != batch_size or output.shape[2] != dim:
        raise EncoderError(
            f"the encoder returned shape {tuple(output.shape)} for a batch of {batch_size}; expected "
            f"[{batch_size}, T', {dim}] (output_dim = {dim})."
        )
    if output.shape[1] < 1:
        raise EncoderError("the encoder returned zero frames; every clip needs at least one frame.")


def iter_split_samples(config: TaskConfig, split: Any) -> Iterator[RawSample]:
    for shard in find_shards(config.task_dir, config.shard_pattern(split)):
        yield from iter_shard(shard)


def encode_split(
    encoder: torch.nn.Module,
    info: EncoderInfo,
    config: TaskConfig,
    split: Any,
    split_dir: Path,
    key: dict[str, Any],
    options: EncodeOptions,
) -> EncodeStats:
    """Encode every clip of one split into a new store directory (committed atomically)."""
    device = best_device(options.device)
    encoder.to(device).eval()
    rate = info.sampling_rate
    crop_samples = round(config.crop_length * rate) if config.crop_length else None
    stats = EncodeStats()
    started = time.perf_counter()
    writer = SplitWriter(split_dir, key, dim=info.output_dim, frame_dtype=options.frame_dtype)
    workers = options.decode_workers if options.decode_workers is not None else default_decode_workers()
    try:
        decoded = decode_in_order(
            iter_split_samples(config, split), rate, workers=workers, lookahead=options.lookahead_clips
        )
        while window := _next_window(decoded, options.window_clips, options.window_seconds * rate):
            segments = [
                Segment(
                    wave=crop,
                    record={
                        "key": sample.key,
                        "shard": sample.shard.name,
                        "crop": index,
                        "num_samples": int(crop.shape[0]),
                        "meta": sample.meta,
                    },
                )
                for sample, wave in window
                for index, crop in enumerate(cut_crops(wave, crop_samples))
            ]
            _encode_window(encoder, segments, writer, config, split, device, info.pads_safely)
            stats.clips += len(segments)
            stats.audio_seconds += sum(s.wave.shape[0] for s in segments) / rate
        stats.wall_seconds = time.perf_counter() - started
        writer.commit({"audio_seconds": round(stats.audio_seconds, 3), "device": str(device)})
    except BaseException:
        writer.abort()
        raise
    return stats


def _next_window(decoded: Iterator[tuple[RawSample, np.ndarray]], max_clips: int, max_samples: float) -> list:
    window: list[tuple[RawSample, np.ndarray]] = []
    total = 0
    for item in decoded:
        window.append(item)
        total += item[1].shape[0]
        if len(window) >= max_clips or total >= max_samples:
            break
    return window


def _encode_window(
    encoder: torch.nn.Module,
    segments: list[Segment],
    writer: SplitWriter,
    config: TaskConfig,
    split: Any,
    device: torch.device,
    pads_safely: bool,
) -> None:
    outputs: list[np.ndarray | None] = [None] * len(segments)
    lengths = [s.wave.shape[0] for s in segments]
    for batch in plan_batches(lengths, config.batch_size_encode, pads_safely):
        try:
            frames = encode_batch(
                encoder, [segments[i].wave for i in batch], device=device, pads_safely=pads_safely
            )
        except Exception as exc:
            keys = [segments[i].record["key"] for i in batch]
            shards = sorted({segments[i].record["shard"] for i in batch})
            raise EncoderError(
                f"task {config.name!r}, split {split!r}: encoding failed on the batch holding samples {keys} "
                f"(shards {shards}): {type(exc).__name__}: {exc}"
            ) from exc
        for i, clip_frames in zip(batch, frames, strict=True):
            outputs[i] = clip_frames
    for segment, clip_frames in zip(segments, outputs, strict=True):
        writer.add(clip_frames, segment.record)
