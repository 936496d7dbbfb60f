"""Encode-stage throughput against its two physical limits, in audio-seconds per second.

    python benchmarks/encode_throughput.py [--encoder example/mel/mel_encoder.py] [--workers N]
        [--scale K] [--autocast off|bf16|fp16] [--batch-size B]

Builds (once, cached in --workdir) a synthetic 3-task set shaped like the public X-ARES measurement:
ESC-50 (400 clips, 5 s, 44.1 kHz WAV), ASV2015 (600 clips, ~3 s, 16 kHz FLAC) and DESED (180 clips,
10 s, 16 kHz FLAC): 1,180 clips, about 1.6 h of audio (--scale K: K times as many clips, for fast
machines where 1.6 h takes under a second). Then measures

  (a) forward only: the encoder over the same audio, already decoded, in memory and batched;
  (b) decode only: reading, decoding and resampling with all worker processes, no encoder;
  (c) the encode stage itself (XaresTask.encode into a fresh store),

and prints each, the ratio (c) / min(a, b), peak RSS, and the size of the store against float32. With the
encoder on the CPU, (a) and (b) compete for the same cores inside the stage, so it also prints (c)
against the shared-cores limit 1 / (1/a + 1/b); min(a, b) is the limit where the encoder has a GPU.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from xares.data.decoding import decode_in_order, default_decode_workers
from xares.data.shards import audio_to_bytes, find_shards, iter_shard, write_shards
from xares.encode import EncodeOptions, encode_batch, plan_batches
from xares.encoder import describe_encoder, load_encoder
from xares.task import RunOptions, TaskConfig, XaresTask

SHAPES = {  # name: (split -> clips, seconds range, rate, format)
    "esc50_like": ({f"fold-{k}": 80 for k in range(1, 6)}, (5.0, 5.0), 44100, "WAV"),
    "asv2015_like": ({"train": 400, "valid": 100, "test": 100}, (2.0, 4.0), 16000, "FLAC"),
    "desed_like": ({"train": 120, "test": 60}, (10.0, 10.0), 16000, "FLAC"),
}


def write_shape(out_dir: Path, name: str, scale: int = 1) -> None:
    """Write one task's shards: tones in noise, labelled by the tone's frequency band (10 classes)."""
    splits, (low, high), rate, fmt = SHAPES[name]
    rng = np.random.default_rng(sorted(SHAPES).index(name))
    ext = "wav" if fmt == "WAV" else "flac"
    for split, count in splits.items():
        samples = []
        for i in range(count * scale):
            label = int(rng.integers(0, 10))
            seconds = rng.uniform(low, high)
            t = np.arange(int(seconds * rate)) / rate
            hz = 150 * 1.4**label * rng.uniform(0.97, 1.03)
            wave = 0.2 * np.sin(2 * np.pi * hz * t) + 0.05 * rng.standard_normal(t.size)
            samples.append(
                (
                    f"{name}_{split}_{i:05d}",
                    audio_to_bytes(wave.astype(np.float32), rate, fmt),
                    ext,
                    {"label": label},
                )
            )
        write_shards(samples, out_dir, f"{split}-*.tar", num_shards=2 * scale)


def build_dataset(root: Path, scale: int = 1) -> None:
    for name in SHAPES:
        task_dir = root / name
        if not (task_dir / ".audio_tar_ready").exists():
            write_shape(task_dir, name, scale)
            (task_dir / ".audio_tar_ready").write_text("{}")


def task_config(root: Path, name: str, encoder: torch.nn.Module) -> TaskConfig:
    splits = list(SHAPES[name][0])
    return TaskConfig(
        name=name,
        env_root=root,
        encoder=encoder,
        k_fold_splits=splits,
        audio_tar_name_of_split={s: f"{s}-*.tar" for s in splits},
        output_dim=10,
    )


def all_samples(root: Path):
    for name, (splits, *_) in SHAPES.items():
        for split in splits:
            for shard in find_shards(root / name, f"{split}-*.tar"):
                yield from iter_shard(shard)


def peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--encoder", default="example/mel/mel_encoder.py")
    parser.add_argument("--workers", type=int, default=default_decode_workers())
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--scale", type=int, default=1, help="K times the clips of each split")
    parser.add_argument("--autocast", choices=["off", "bf16", "fp16"], default="off")
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "xares-bench-encode"))
    args = parser.parse_args()

    root = Path(args.workdir) if args.scale == 1 else Path(args.workdir) / f"x{args.scale}"
    started = time.perf_counter()
    build_dataset(root, args.scale)
    print(f"dataset: {root} (built/checked in {time.perf_counter() - started:.1f} s)")
    encoder = load_encoder(args.encoder).eval()
    info = describe_encoder(encoder)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    encoder.to(device)
    print(
        f"encoder: {info.name}, device {device}, autocast {args.autocast}, {args.workers} decode workers, "
        f"batch {args.batch_size}, torch threads "
        f"{torch.get_num_threads()}, CPU cores {len(__import__('os').sched_getaffinity(0))}"
    )

    # Read every shard once: (a)-(c) then all find them in the page cache, and this line says what a
    # first, cold read costs on this disk (measured here: ~40 MB/s cold, which made a cold stage 2-3x slower)
    started = time.perf_counter()
    shard_bytes = sum(len(p.read_bytes()) for p in sorted(root.glob("*/*.tar")))
    read_seconds = time.perf_counter() - started
    print(
        f"shards: {shard_bytes / 1e6:.0f} MB read in {read_seconds:.2f} s "
        f"({shard_bytes / 1e6 / read_seconds:.0f} MB/s); (a)-(c) run with them in the page cache"
    )

    # (c) the encode stage
    options = RunOptions(
        overwrite="all", encode=EncodeOptions(decode_workers=args.workers, autocast=args.autocast)
    )
    store_bytes = 0
    started = time.perf_counter()
    for name in SHAPES:
        config = task_config(root, name, encoder)
        config.batch_size_encode = args.batch_size
        task = XaresTask(config, options=options)
        shutil.rmtree(task.store_root, ignore_errors=True)
        task.encode()
        store_bytes += sum(p.stat().st_size for p in task.store_root.rglob("*") if p.is_file())
    stage_seconds = time.perf_counter() - started
    own, _ = peak_rss_mb()
    print(f"(c) encode stage done first; peak RSS of the main process so far: {own:.0f} MB")

    # (b) decode only
    started = time.perf_counter()
    waves = [w for _, w in decode_in_order(all_samples(root), info.sampling_rate, workers=args.workers)]
    decode_seconds = time.perf_counter() - started
    audio_seconds = sum(w.shape[0] for w in waves) / info.sampling_rate
    decode_rate = audio_seconds / decode_seconds
    print(f"audio: {len(waves)} clips, {audio_seconds / 3600:.2f} h")
    print(f"(b) decode + resample only: {decode_seconds:7.2f} s  {decode_rate:9.0f} audio-s/s")

    # (a) forward only, same batching rule as the pipeline
    batches = plan_batches([w.shape[0] for w in waves], args.batch_size, info.pads_safely)
    forward = {"device": device, "pads_safely": info.pads_safely, "autocast": args.autocast}
    for batch in batches[:3]:  # warm-up (kernel selection, caches)
        encode_batch(encoder, [waves[i] for i in batch], **forward)
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for batch in batches:
        encode_batch(encoder, [waves[i] for i in batch], **forward)
    if device.type == "cuda":
        torch.cuda.synchronize()
    forward_seconds = time.perf_counter() - started
    forward_rate = audio_seconds / forward_seconds
    print(f"(a) encoder forward only:   {forward_seconds:7.2f} s  {forward_rate:9.0f} audio-s/s")
    del waves

    stage_rate = audio_seconds / stage_seconds
    limit = min(forward_rate, decode_rate)
    print(f"(c) encode stage:           {stage_seconds:7.2f} s  {stage_rate:9.0f} audio-s/s")
    print(
        f"    = {stage_rate / limit:.2f} x min(a, b) (target >= 0.85); bound by "
        f"{'decoding' if decode_rate < forward_rate else 'the encoder'}"
    )
    if device.type == "cpu":
        # (a) and (b) each had every core to itself; in the stage they share the cores, so its limit is
        # the time of both together, not of the slower one
        shared = 1.0 / (1.0 / forward_rate + 1.0 / decode_rate)
        print(
            f"    = {stage_rate / shared:.2f} x the shared-cores limit 1 / (1/a + 1/b) = {shared:.0f} "
            "audio-s/s (encoder and decoders on the same CPU cores)"
        )
    float32_bytes = audio_seconds * 1000 / info.hop_size_in_ms * info.output_dim * 4
    print(
        f"store: {store_bytes / 1e6:.1f} MB = {store_bytes / float32_bytes:.2f} x float32 frames "
        f"({float32_bytes / 1e6:.1f} MB)"
    )


if __name__ == "__main__":
    sys.exit(main())
