"""Probe-stage speed: MLP + kNN on a clip task of 50,000 clips x 768-d, from an embedding store.

    python benchmarks/probe_speed.py [--clips 50000] [--dim 768] [--classes 50] [--folds 0]

Writes a synthetic store (Gaussian class clusters) once into --workdir, then times what stage 2 does
for one task: load the splits (memory-mapped, pooled vectors into memory), train the linear head with
the task's protocol (10 epochs, batch 32, validation every epoch), and run the kNN. With --folds K the
clips are spread over K folds and every fold is trained from the one load. Target: < 10 s for
50,000 x 768 on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from xares.probes import ProbeContext
from xares.probes.clip import run_clip_probe
from xares.store import SplitWriter, is_complete, load_split
from xares.taskconfig import TaskConfig


def build_store(root: Path, splits: dict[str, int], dim: int, classes: int) -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((classes, dim)).astype(np.float32)
    for split, count in splits.items():
        key = {"bench": split, "dim": dim, "count": count, "classes": classes}
        if is_complete(root / split, key):
            continue
        writer = SplitWriter(root / split, key, dim=dim)
        labels = rng.integers(0, classes, count)
        for i, label in enumerate(labels):
            frames = centres[label] + 2.0 * rng.standard_normal((4, dim)).astype(np.float32)
            writer.add(
                frames,
                {
                    "key": f"{split}{i}",
                    "shard": "bench.tar",
                    "crop": 0,
                    "num_samples": 1,
                    "meta": {"label": int(label)},
                },
            )
        writer.commit()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--folds", type=int, default=0, help="0: train/valid/test splits (80/10/10)")
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "xares-bench-probe"))
    args = parser.parse_args()

    if args.folds:
        splits = {f"fold{k}": args.clips // args.folds for k in range(args.folds)}
    else:
        splits = {"train": int(args.clips * 0.8), "valid": args.clips // 10, "test": args.clips // 10}
    root = Path(args.workdir) / f"{args.clips}x{args.dim}x{args.classes}-{args.folds}"
    started = time.perf_counter()
    build_store(root, splits, args.dim, args.classes)
    print(f"store: {root} (built/checked in {time.perf_counter() - started:.1f} s)")
    print(f"torch threads: {torch.get_num_threads()}, cores: {os.cpu_count()}")
    # other work on the machine stretches wall times; the load average and CPU time tell by how much
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    cpu_started = time.process_time()

    label_of = lambda meta: meta["label"]  # noqa: E731
    if args.folds:
        config = TaskConfig(
            name="bench", k_fold_splits=list(splits), output_dim=args.classes, label_processor=label_of
        )
    else:
        config = TaskConfig(name="bench", output_dim=args.classes, label_processor=label_of)

    started = time.perf_counter()
    loaded = {split: _load(root / split) for split in splits}
    load_seconds = time.perf_counter() - started

    # as stage 2 runs them: the kNN in a thread beside the head's training
    started = time.perf_counter()
    both = run_clip_probe(config, loaded, ProbeContext(seed=42, hop_size_in_ms=10, sampling_rate=16000))
    both_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started

    # each alone, for the breakdown
    config.do_knn = False
    started = time.perf_counter()
    run_clip_probe(config, loaded, ProbeContext(seed=42, hop_size_in_ms=10, sampling_rate=16000))
    mlp_seconds = time.perf_counter() - started
    config.do_knn, config.do_mlp = True, False
    started = time.perf_counter()
    run_clip_probe(config, loaded, ProbeContext(seed=42, hop_size_in_ms=10, sampling_rate=16000))
    knn_seconds = time.perf_counter() - started

    total = load_seconds + both_seconds
    print(
        f"clips: {args.clips} x {args.dim}-d, {args.classes} classes, "
        f"{f'{args.folds} folds' if args.folds else 'train/valid/test 80/10/10'}"
    )
    print(f"load store:   {load_seconds:6.2f} s")
    print(f"MLP + kNN:    {both_seconds:6.2f} s   scores {both.mlp_score:.3f} / {both.knn_score:.3f}")
    print(f"total:        {total:6.2f} s   (target < 10 s)")
    print(f"CPU time:     {cpu_seconds:6.2f} s   (all threads of this process, load + MLP + kNN)")
    print(f"breakdown, each alone: MLP (10 epochs) {mlp_seconds:.2f} s, kNN (k=10) {knn_seconds:.2f} s")
    print(f"peak RSS:     {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def _load(split_dir: Path):
    from xares.store import read_manifest

    return load_split(split_dir, read_manifest(split_dir)["key"])


if __name__ == "__main__":
    main()
