"""Time the whole real-recording suite (src/tasks/real/*.py) with the mel encoder, after download.

Usage: python benchmarks/real_suite.py [--env-root DIR]. The Debian packages must already be in
<env root>/.downloads/debian (run the suite once, or `python -m xares.run ... src/tasks/real/*.py`);
each task's shards are rebuilt from them (the task directories are removed first), then encoded and
probed, so the figure covers building, encoding and probing. Prints the total seconds and the load
average before and after (the machine may be shared: a figure means little without it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-root", default=str(ROOT / "env"))
    args = parser.parse_args()
    env_root = Path(args.env_root)
    if not any((env_root / ".downloads" / "debian").glob("*.deb")):
        sys.exit(f"no Debian packages in {env_root / '.downloads' / 'debian'}: run the real suite once first")
    tasks = sorted(str(p) for p in (ROOT / "src" / "tasks" / "real").glob("*_task.py"))
    for name in ("real_stamp_sounds", "real_allison_languages", "real_allison_asr", "real_instrument_family",
                 "real_instrument_pitch"):  # fmt: skip
        shutil.rmtree(env_root / name, ignore_errors=True)
    results = ROOT / "results" / "benchmark-real" / "results.json"
    load_before = os.getloadavg()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "xares.run", "--env-root", str(env_root), "--results", str(results),
         "--overwrite", "all",
         str(ROOT / "example" / "mel" / "mel_encoder.py"), *tasks],
        check=True, cwd=ROOT,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    load = (
        ", ".join(f"{a:.2f}" for a in load_before) + " -> " + ", ".join(f"{a:.2f}" for a in os.getloadavg())
    )
    print(
        f"real suite, mel encoder, {len(tasks)} tasks: {elapsed:.1f} s (after download) on "
        f"{os.cpu_count()} CPUs; load average (1, 5, 15 min) {load}"
    )


if __name__ == "__main__":
    main()
