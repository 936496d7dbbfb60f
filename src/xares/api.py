"""The Python API: `xares.evaluate(encoder, tasks, **options) -> Results`, what every command line calls.

`python -m xares.run` and `xares run` only turn their arguments into this call. The encoder is loaded,
checked and fingerprinted here, once per run, and its EncoderInfo travels with every task unit, so
neither the workers nor the tasks hash its weights again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from xares.audio_encoder_checker import find_contract_violations
from xares.encode import EncodeOptions
from xares.encoder import EncoderInfo, describe_encoder
from xares.errors import EncoderError, RunOptionsError
from xares.faults import failpoint
from xares.probes.asr import DECODERS
from xares.published import suite_fingerprint
from xares.report import build_results, save_results
from xares.scheduler import ExecutorOptions, TaskUnit, run_units
from xares.scheduler.unit import unit_encoder
from xares.task import RunOptions, TaskConfig, TaskResult

STAGES = {0: "acquire audio", 1: "encode", 2: "probe and report"}


@dataclass
class Results:
    """A run's task results, its results document (results.json's schema) and where that was saved.

    The document exists only when the run reached stage 2: before it there are no scores to report.
    """

    task_results: list[TaskResult]
    document: dict[str, Any] | None = None
    path: Path | None = None

    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        return {task["name"]: task for task in (self.document or {}).get("tasks", [])}

    @property
    def averages(self) -> dict[str, Any]:
        return (self.document or {}).get("averages", {})

    @property
    def failed(self) -> list[str]:
        return [result.name for result in self.task_results if result.status == "failed"]

    def __getitem__(self, task_name: str) -> dict[str, Any]:
        return self.tasks[task_name]


def default_results_path(encoder_name: str, *, layer: int | str | None = None, autocast: str = "off") -> Path:
    """results/<Encoder>/results[-layer-K][-bf16].json: runs differing in those never overwrite each other."""
    name = "results" + ("" if layer is None else f"-layer-{layer}")
    name += ("" if autocast == "off" else f"-{autocast}") + ".json"
    return Path("results") / encoder_name / name


def evaluate(
    encoder: torch.nn.Module | str | Path,
    tasks: Sequence[str | Path | TaskConfig] | str | Path | TaskConfig,
    *,
    env_root: str | Path | None = None,
    results_path: str | Path | bool | None = None,
    from_stage: int = 0,
    to_stage: int = 2,
    max_jobs: int = 1,
    executor: ExecutorOptions | None = None,
    overwrite: str = "missing",
    skip_bad_samples: bool = False,
    mini: bool = False,
    device: str | None = None,
    zenodo_url: str | None = None,
    check: bool = True,
    protocol: str = "published",
    autocast: str = "off",
    layer: int | str | None = None,
    asr_decoder: str | None = None,
    num_seeds: int = 1,
    bootstrap: int = 1000,
    progress: bool = False,
    quiet: bool = True,
    on_result: Callable[[TaskResult], None] | None = None,
) -> Results:
    """Evaluate an encoder on tasks and return their results (saved where `results_path` says).

    `encoder`: an encoder object, an encoder file ('file.py' or 'file.py:Class'), or 'hf:NAME' /
    'hear:MODULE'. `tasks`: task files or TaskConfig objects. Objects run in this process only, so
    with them `max_jobs` must be 1 and the executor local. The other options are those of
    `python -m xares.run` (see its --help). A task that fails does not raise: its result says why.
    A bad encoder raises EncoderError; options that cannot go together raise RunOptionsError.
    `results_path`: where results.json goes; True for results/<Encoder>/results….json, None not to save.
    """
    tasks = [tasks] if isinstance(tasks, (str, Path, TaskConfig)) else list(tasks)
    executor = executor or ExecutorOptions(env_root=None if env_root is None else str(env_root))
    if from_stage > to_stage or from_stage not in STAGES or to_stage not in STAGES:
        raise RunOptionsError(
            f"stages run from 0 to 2 in order; got from_stage={from_stage}, to_stage={to_stage}"
        )
    if asr_decoder not in (None, *DECODERS):
        raise RunOptionsError(f"asr_decoder must be one of {list(DECODERS)} or None; got {asr_decoder!r}")
    if num_seeds < 1 or bootstrap < 0:
        raise RunOptionsError(
            f"num_seeds must be at least 1 and bootstrap at least 0; got {num_seeds}, {bootstrap}"
        )
    in_process = not isinstance(encoder, (str, Path)) or any(isinstance(t, TaskConfig) for t in tasks)
    if in_process and (max_jobs > 1 or executor.kind != "local"):
        raise RunOptionsError(
            "an encoder object or a TaskConfig object runs in this process only: pass files (an encoder "
            "file or name, task files) to run with max_jobs > 1 or on Slurm or Ray."
        )
    source = str(encoder) if isinstance(encoder, (str, Path)) else None
    spec = None if source is None else str(Path(source))
    encoder_object, info = _encoder_and_info(
        encoder, spec, source, needed=to_stage >= 1, check=check and from_stage <= 1
    )
    options = RunOptions(
        overwrite=overwrite,
        encode=EncodeOptions(device=device, autocast=autocast),
        zenodo_base_url=zenodo_url,
        progress=progress,
        mini=mini,
        skip_bad_samples=skip_bad_samples,
        protocol=protocol,
        num_seeds=num_seeds,
        quiet=quiet,
        layer=layer,
        asr_decoder=asr_decoder,
    )
    units = [
        TaskUnit(
            task_file=f"<TaskConfig {task.name}>" if isinstance(task, TaskConfig) else str(task),
            encoder_spec=spec if to_stage >= 1 else None,
            env_root=None if env_root is None else str(env_root),
            from_stage=from_stage,
            to_stage=to_stage,
            options=options,
            encoder_info=info,
            config=task if isinstance(task, TaskConfig) else None,
            encoder=encoder_object if spec is None else None,
        )
        for task in tasks
    ]
    started = time.perf_counter()
    results = run_units(units, max_jobs=max_jobs, on_result=on_result, executor=executor)
    if to_stage < 2:
        return Results(results)
    run_info = {
        "from_stage": from_stage,
        "to_stage": to_stage,
        "max_jobs": max_jobs,
        "executor": executor.kind,
        "env_root": str(env_root) if env_root is not None else "env",
        "overwrite": overwrite,
        "seconds": round(time.perf_counter() - started, 3),
        "protocol": protocol,
        "seeds": num_seeds,
        "layer": layer,
        "autocast": autocast,
        **({} if asr_decoder is None else {"asr_decoder": asr_decoder}),
        "suite": suite_fingerprint(tasks),  # which task files: two runs on one suite share its value
    }
    encoder_dict = info.to_dict()  # stage 2 always loaded and described the encoder
    document = build_results(encoder_dict, [r.to_dict() for r in results], run_info, resamples=bootstrap)
    if results_path is None or results_path is False:
        return Results(results, document)
    if results_path is True:
        path = default_results_path(encoder_dict["name"], layer=layer, autocast=autocast)
    else:
        path = Path(results_path)
    failpoint("results.before_write")
    save_results(document, path)
    return Results(results, document, path)


def _encoder_and_info(
    encoder: Any, spec: str | None, source: str | None, *, needed: bool, check: bool
) -> tuple[torch.nn.Module | None, EncoderInfo | None]:
    """The encoder (loaded once per process: the local executor's units reuse it) and its description."""
    if not needed:
        return None, None
    try:
        module = unit_encoder(spec) if spec is not None else encoder
    except Exception as exc:  # the encoder file's own code may raise anything
        raise EncoderError(f"cannot load the encoder: {exc}") from exc
    if check:
        failures = find_contract_violations(module)
        if failures:
            raise EncoderError(
                f"{type(module).__name__} fails check_audio_encoder:\n"
                + "\n".join(f"  - {failure}" for failure in failures)
            )
    return module, describe_encoder(module, source or type(module).__name__)
