"""Start-up cost: the command line and the workers import torch and little else.

Every stage process and every `--max-jobs` worker pays its imports again, so a package imported at module
level by any xares module is paid by every process whether or not it is used. These tests read what
`python -X importtime` reports for each entry point (a list of module names, so they do not depend on the
machine's speed or load) and fail when one of the heavy packages below is among them. The packages stay
importable where they are used: inside the function that needs them.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# Each costs 0.1-1.5 s to import and is needed only by some runs: metrics with SciPy/scikit-learn,
# plots, Hugging Face encoders, downloads, the Slurm and Ray executors, lock files.
HEAVY = (
    "sklearn",
    "scipy",
    "matplotlib",
    "pandas",
    "transformers",
    "huggingface_hub",
    "requests",
    "urllib3",
    "pooch",
    "webdataset",
    "ray",
    "submitit",
    "filelock",
    "jsonschema",
    "yaml",
    "pyinstrument",
    "hypothesis",
    "rich.progress",
    "rich.live",
    "rich.syntax",
    "rich.traceback",
    "rich.markdown",
)

ENTRY_POINTS = {
    "import xares": ["-c", "import xares"],
    "import xares.task": ["-c", "import xares.task"],
    "import xares.run": ["-c", "import xares.run"],
    "import xares.scheduler.unit (a worker)": ["-c", "import xares.scheduler.unit"],
    "python -m xares.run --help": ["-m", "xares.run", "--help"],
    "import xares.cli (the xares command)": ["-c", "import xares.cli"],
}


def imported_modules(args: list[str]) -> list[str]:
    """The modules a fresh interpreter imports for args, in import order, read from -X importtime."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{args} failed:\n{proc.stderr[-3000:]}"
    modules = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            modules.append(line.rsplit("|", 1)[1].strip())
    return modules


def heavy_among(modules: list[str]) -> list[str]:
    """The HEAVY packages (or sub-modules) that modules contains."""
    return sorted({h for h in HEAVY for m in modules if m == h or m.startswith(h + ".")})


def test_heavy_among_matches_packages_and_their_submodules_only():
    assert heavy_among(["scipy.linalg", "sklearn", "rich.console", "rich.progress_bar", "yamlish"]) == [
        "scipy",
        "sklearn",
    ]
    assert heavy_among(["rich.progress"]) == ["rich.progress"]


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_entry_point_imports_no_heavy_package(entry):
    modules = imported_modules(ENTRY_POINTS[entry])
    # The parse itself is checked: a worker and the command line need xares' own modules.
    assert any(m.startswith("xares") for m in modules), f"no xares module read from -X importtime of {entry}"
    heavy = heavy_among(modules)
    assert not heavy, (
        f"`{entry}` imports {', '.join(heavy)} at start-up; every process pays for it. "
        'Import it inside the function that uses it (`python -X importtime -c "import xares.run"` shows who '
        "imports it)."
    )


def test_run_imports_torch_and_the_local_executor_but_not_the_remote_ones():
    modules = set(imported_modules(["-c", "import xares.run"]))
    assert "torch" in modules
    assert "xares.scheduler.local" in modules
    assert not {"xares.scheduler.slurm", "xares.scheduler.ray_executor"} & modules


def test_workers_start_with_torch_and_the_stages_already_imported():
    # the local executor's workers fork from a server that imported them once; a spawned worker would
    # import torch and xares again (1.5-3 s each) before its first unit
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from xares.scheduler.local import WORKER_PRELOAD, worker_context

    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no forkserver on this platform: workers are spawned")
    question = "[m for m in ('torch', *PRELOAD) if m not in __import__('sys').modules]"
    with ProcessPoolExecutor(1, mp_context=worker_context()) as pool:
        missing = pool.submit(eval, question, {"PRELOAD": WORKER_PRELOAD}).result(timeout=300)
    assert missing == []
