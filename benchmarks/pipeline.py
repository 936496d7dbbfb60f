"""The whole pipeline through the real command line: per-stage wall time, audio-seconds/s, peak RSS.

    python benchmarks/pipeline.py --suite offline     # the offline suite (src/tasks/offline/*.py)
    python benchmarks/pipeline.py --suite synthetic   # 1,180 clips in 3 tasks, shaped like the public
                                                      # X-ARES measurement (ESC-50, ASV2015, DESED)

Each suite runs twice in a fresh env root: once from scratch (generation/acquisition included), once
more with --overwrite all (audio present; encode and probe redone), which is the figure to compare
with the public X-ARES numbers (~37 s encode, ~12 s MLP+kNN, 1.4 GB peak RSS on this kind of machine
for the synthetic set).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SYNTHETIC_TASK = """
import sys
sys.path.insert(0, {bench_dir!r})
from encode_throughput import SHAPES, write_shape
from xares.task import TaskConfig


def generate(out_dir):
    write_shape(out_dir, {name!r})


def label_of(meta):
    return int(meta["label"])


def {name}_config(encoder):
    return TaskConfig(name={name!r}, formal_name={name!r}, encoder=encoder, generator=generate,
                      label_processor=label_of, output_dim=10, {extra})
"""

SYNTHETIC_EXTRA = {
    "esc50_like": (
        'k_fold_splits=[f"fold-{k}" for k in range(1, 6)], '
        'audio_tar_name_of_split={f"fold-{k}": f"fold-{k}-*.tar" for k in range(1, 6)}'
    ),
    "asv2015_like": 'valid_split="valid", epochs=5, batch_size_train=64',
    "desed_like": 'valid_split="test"',
}


def write_synthetic_tasks(directory: Path) -> list[Path]:
    paths = []
    for name, extra in SYNTHETIC_EXTRA.items():
        path = directory / f"{name}_task.py"
        path.write_text(SYNTHETIC_TASK.format(bench_dir=str(ROOT / "benchmarks"), name=name, extra=extra))
        paths.append(path)
    return paths


def run_once(encoder: str, tasks: list[Path], env_root: Path, results: Path, extra: list[str]) -> dict:
    started = time.perf_counter()
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "xares.run",
            encoder,
            *map(str, tasks),
            "--env-root",
            str(env_root),
            "--results",
            str(results),
            *extra,
        ],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        print(completed.stdout[-3000:], completed.stderr[-3000:])
        raise SystemExit(f"the run failed with status {completed.returncode}")
    document = json.loads(results.read_text())
    stages = {"acquire": 0.0, "encode": 0.0, "probe": 0.0}
    for task in document["tasks"]:
        for stage in stages:
            stages[stage] += task["timings"].get(stage, 0.0)
    audio_seconds = 0.0
    for manifest in env_root.glob("*/embeddings/*/*/manifest.json"):
        audio_seconds += json.loads(manifest.read_text()).get("audio_seconds", 0.0)
    return {"wall": wall, "stages": stages, "audio_seconds": audio_seconds, "tasks": document["tasks"]}


def report(label: str, outcome: dict) -> None:
    stages = outcome["stages"]
    rate = outcome["audio_seconds"] / stages["encode"] if stages["encode"] else float("nan")
    print(
        f"{label}: wall {outcome['wall']:.1f} s | acquire {stages['acquire']:.1f} s | encode "
        f"{stages['encode']:.1f} s ({outcome['audio_seconds'] / 3600:.2f} h audio, {rate:,.0f} audio-s/s) | "
        f"probe {stages['probe']:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suite", choices=("offline", "synthetic"), default="offline")
    parser.add_argument("--encoder", default=str(ROOT / "example/mel/mel_encoder.py"))
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix=f"xares-bench-{args.suite}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.suite == "offline":
        tasks = sorted((ROOT / "src/tasks/offline").glob("*_task.py"))
    else:
        tasks = write_synthetic_tasks(workdir)
    env_root = workdir / "env"
    first = run_once(args.encoder, tasks, env_root, workdir / "first.json", [])
    report("from scratch ", first)
    again = run_once(args.encoder, tasks, env_root, workdir / "again.json", ["--overwrite", "all"])
    report("audio present", again)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS of any process: {peak:.0f} MB")
    for task in again["tasks"]:
        scores = ", ".join(f"{k} {task[k]:.3f}" for k in ("mlp_score", "knn_score") if task[k] is not None)
        print(
            f"  {task['name']:<24} {task['status']:<6} {scores}  "
            + " ".join(f"{k} {v:.1f}s" for k, v in task["timings"].items())
        )


if __name__ == "__main__":
    main()
