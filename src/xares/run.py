"""Command line of the public X-ARES: `python -m xares.run [options] ENCODER.py TASK.py...`.

Argument parsing and dispatch only; the work happens in xares.scheduler and the task stages.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from typing import Any

# The imports below (torch above all) create ~170k objects that live as long as the process, and their
# allocations trigger full collections that scan them all and free nothing: 0.3-0.4 s of CPU, a fifth
# of this command's start-up. So collection is off while they run; what they made is then frozen
# (gc.freeze: left out of every later collection) and collection resumes.
_collecting = gc.isenabled()
gc.disable()
try:
    from rich.console import Console
    from rich.logging import RichHandler

    from xares.api import STAGES, evaluate
    from xares.errors import EncoderError, RunOptionsError
    from xares.probes.asr import DECODERS
    from xares.probes.layers import parse_layer
    from xares.report import PROTOCOLS, print_results
    from xares.scheduler import (
        EXECUTORS,
        ExecutorError,
        ExecutorOptions,
        RayOptions,
        SlurmOptions,
        parse_key_value,
    )
    from xares.task import OVERWRITE_POLICIES, TaskResult
finally:
    gc.freeze()
    if _collecting:
        gc.enable()


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "encoder", help="encoder file (ENCODER.py, or ENCODER.py:ClassName); executed as code"
    )
    parser.add_argument(
        "tasks", nargs="+", help="task files (each defines one <name>_config(encoder)); executed as code"
    )
    parser.add_argument(
        "--max-jobs",
        type=int,
        default=1,
        metavar="N",
        help="tasks run at once: N > 1 uses N worker processes, 0 or 1 runs here (default 1)",
    )
    parser.add_argument(
        "--from-stage",
        type=int,
        choices=sorted(STAGES),
        default=0,
        help="first stage: 0 acquire audio, 1 encode, 2 probe and report (default 0)",
    )
    parser.add_argument(
        "--to-stage",
        type=int,
        choices=sorted(STAGES),
        default=2,
        help="last stage, same numbering (default 2)",
    )
    parser.add_argument(
        "--env-root",
        metavar="DIR",
        help="where audio shards, embeddings and score caches live (default: the task's env_root, ./env)",
    )
    parser.add_argument(
        "--results",
        metavar="FILE",
        help="results file to write (default results/<EncoderName>/results.json; with --layer K, "
        "results-layer-K.json beside it)",
    )
    parser.add_argument(
        "--overwrite",
        choices=OVERWRITE_POLICIES,
        default="missing",
        help="missing: reuse every complete artifact (default); probe: retrain the heads; "
        "all: re-encode and retrain",
    )
    parser.add_argument(
        "--skip-bad-samples",
        action="store_true",
        help="skip (and count in results.json) samples that cannot be read, instead of failing their task",
    )
    parser.add_argument(
        "--mini",
        action="store_true",
        help="use the small shard selection of tasks that publish one (upstream's use_mini_dataset)",
    )
    parser.add_argument("--device", help="torch device for the encoder (default: cuda if available)")
    add_download_arguments(parser, mirror_type=debian_mirror_url)
    parser.add_argument(
        "--skip-check",
        action="store_true",
        help="do not run check_audio_encoder before encoding (not recommended)",
    )
    parser.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        default="published",
        help="published: kNN per clip (documented), model selection as published (default); strict: model "
        "selection never sees test data; xares-0.1.3: reproduce the public implementation's deviations",
    )
    parser.add_argument(
        "--autocast",
        choices=["off", "bf16", "fp16"],
        default="off",
        help="run the encoder under torch.autocast in bfloat16 or float16 (default off). Faster on "
        "GPUs, but the embeddings differ from float32 ones, and are stored apart from them",
    )
    parser.add_argument(
        "--layer",
        type=_layer_argument,
        metavar="K|weighted",
        help="for encoders that return several layers ([B, L, T', D], num_layers): probe layer K "
        "(negative counts from the end) or a learned softmax-weighted sum of all layers ('weighted'); "
        "default: each task's own choice, else the last layer. Switching layers re-uses the embeddings",
    )
    parser.add_argument(
        "--asr-decoder",
        choices=list(DECODERS),
        help="the decoder of ASR tasks: qwen, the published frozen-LM protocol (LibriSpeech's default), "
        "or ctc, a small offline head that needs no language model; one other than the task file's is "
        "recorded in results.json and marked in every view as not the published protocol",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="train every head with N seeds (seed, seed+1, ...) and report mean ± std (default 1)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples of the test clips for the 95%% intervals (default 1000; 0: none)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress display (default: bars on a terminal)"
    )
    where = parser.add_argument_group(
        "where tasks run", "one job per task on a cluster; see the README section 'Running on a cluster'"
    )
    where.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local: here or --max-jobs worker processes (default); slurm: Slurm jobs through submitit; "
        "ray: Ray tasks",
    )
    where.add_argument(
        "--max-attempts",
        type=int,
        default=2,
        metavar="N",
        help="slurm/ray: submit a task whose job died without a result up to N times in all (default 2)",
    )
    where.add_argument("--slurm-partition", metavar="NAME", help="Slurm partition")
    where.add_argument(
        "--slurm-gpus-per-job", type=int, default=0, metavar="N", help="GPUs per job (default 0)"
    )
    where.add_argument(
        "--slurm-time", type=int, default=240, metavar="MINUTES", help="time limit per job (default 240)"
    )
    where.add_argument(
        "--slurm-array-parallelism",
        type=int,
        default=64,
        metavar="N",
        help="jobs of the array running at once (default 64)",
    )
    where.add_argument(
        "--slurm-option",
        action="append",
        type=parse_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="any sbatch option, passed through (repeatable), e.g. --slurm-option cpus-per-task=8 "
        "--slurm-option mem=32G --slurm-option account=myproject",
    )
    where.add_argument(
        "--slurm-log-dir",
        metavar="DIR",
        help="job scripts, pickles and logs, on a shared path (default <env root>/slurm-logs)",
    )
    where.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="Ray cluster to join (e.g. ray://head:10001 or auto); default: start a local one",
    )
    where.add_argument("--ray-cpus-per-task", type=float, default=1.0, metavar="N", help="default 1")
    where.add_argument(
        "--ray-gpus-per-task",
        type=float,
        metavar="N",
        help="default: 1 when the Ray cluster has GPUs, else 0",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")


def add_download_arguments(parser: argparse.ArgumentParser, *, mirror_type: Any = None) -> None:
    """The download options of `xares run` and `xares fetch` (fetch checks its mirror itself)."""
    parser.add_argument(
        "--zenodo-url",
        metavar="URL",
        help="base URL of the Zenodo server (default https://zenodo.org, or $XARES_ZENODO_URL)",
    )
    parser.add_argument(
        "--debian-mirror",
        type=mirror_type,
        metavar="URL",
        help="Debian mirror for the real suite's packages (default deb.debian.org, or $XARES_DEBIAN_MIRROR)",
    )
    parser.add_argument(
        "--max-retry-after",
        type=seconds,
        metavar="SECONDS",
        help="longest wait a download server may ask for with Retry-After before X-ARES gives up and says "
        "so (default 3600, or $XARES_MAX_RETRY_AFTER_S)",
    )
    parser.add_argument(
        "--read-timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="longest silence of a download server in the middle of an answer before the try counts as "
        "failed (default 60, or $XARES_READ_TIMEOUT_S)",
    )


def _layer_argument(text: str) -> int | str:
    try:
        return parse_layer(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(message)s", handlers=[RichHandler(show_path=False)], force=True
    )


def seconds(text: str) -> float:
    """argparse type: a finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0."""
    value = seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a timeout must be more than 0 seconds")
    return value


def _download_settings_to_environment(args: argparse.Namespace) -> None:
    """The download options as the environment variables stage 0 reads, so that every worker and
    cluster job started from here (which inherit the environment) downloads the same way."""
    from xares.data.debian import MIRROR_ENV
    from xares.data.zenodo import MAX_RETRY_AFTER_ENV, READ_TIMEOUT_ENV

    if args.debian_mirror:
        os.environ[MIRROR_ENV] = args.debian_mirror
    if args.max_retry_after is not None:
        os.environ[MAX_RETRY_AFTER_ENV] = f"{args.max_retry_after:g}"
    if args.read_timeout is not None:
        os.environ[READ_TIMEOUT_ENV] = f"{args.read_timeout:g}"


def debian_mirror_url(text: str) -> str:
    """argparse type: an http(s) mirror URL, without its trailing slash."""
    from xares.data.debian import resolve_mirror
    from xares.errors import DataError

    try:
        return resolve_mirror(text)
    except DataError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_benchmark(args: argparse.Namespace, console: Console | None = None) -> int:
    """Run the benchmark described by parsed arguments; the exit status says whether all tasks succeeded."""
    console = console or Console()

    def announce(result: TaskResult) -> None:
        if result.status == "failed":
            console.print(f"[red]✗ {result.name}[/red]: {result.error}")
        else:
            scores = ", ".join(
                f"{k} {v:.3f}"
                for k, v in (("MLP", result.mlp_score), ("kNN", result.knn_score))
                if v is not None
            )
            console.print(f"[green]✓ {result.name}[/green] {scores} ({sum(result.timings.values()):.1f} s)")

    _download_settings_to_environment(args)
    executor = ExecutorOptions(
        kind=args.executor,
        max_attempts=args.max_attempts,
        env_root=args.env_root,
        slurm=SlurmOptions(
            partition=args.slurm_partition,
            gpus_per_job=args.slurm_gpus_per_job,
            time_minutes=args.slurm_time,
            array_parallelism=args.slurm_array_parallelism,
            extra=tuple(args.slurm_option),
            log_dir=args.slurm_log_dir,
        ),
        ray=RayOptions(
            address=args.ray_address,
            cpus_per_task=args.ray_cpus_per_task,
            gpus_per_task=args.ray_gpus_per_task,
        ),
    )
    try:
        results = evaluate(
            args.encoder,
            args.tasks,
            env_root=args.env_root,
            results_path=args.results or True,
            from_stage=args.from_stage,
            to_stage=args.to_stage,
            max_jobs=args.max_jobs,
            executor=executor,
            overwrite=args.overwrite,
            skip_bad_samples=args.skip_bad_samples,
            mini=args.mini,
            device=args.device,
            zenodo_url=args.zenodo_url,
            check=not args.skip_check,
            protocol=args.protocol,
            autocast=args.autocast,
            layer=args.layer,
            asr_decoder=args.asr_decoder,
            num_seeds=args.seeds,
            bootstrap=args.bootstrap,
            # bars only here on a terminal: those of several workers or of cluster jobs would interleave
            progress=sys.stderr.isatty() and args.max_jobs <= 1 and args.executor == "local",
            quiet=args.quiet,
            on_result=announce,
        )
    except (EncoderError, RunOptionsError) as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    except ExecutorError as exc:
        console.print(f"[red]cannot run the tasks with --executor {args.executor}:[/red] {exc}")
        return 2
    if results.document is not None:
        print_results(results.document, console)
        console.print(f"results written to {results.path}")
    if results.failed:
        total, failed = len(results.task_results), len(results.failed)
        console.print(f"[red]{failed} of {total} tasks failed:[/red] " + ", ".join(results.failed))
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xares.run",
        description="Evaluate an audio encoder on X-ARES tasks: acquire audio (stage 0), encode it once "
        "(stage 1), train the probes and report (stage 2).",
    )
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    return run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
