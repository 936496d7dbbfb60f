"""Command line of the public X-ARES: `python -m xares.run [options] ENCODER.py TASK.py...`.

Argument parsing and dispatch only; the work happens in xares.scheduler and the task stages.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

from xares.audio_encoder_checker import find_contract_violations
from xares.encode import EncodeOptions
from xares.encoder import describe_encoder, load_encoder
from xares.faults import failpoint
from xares.probes.layers import parse_layer
from xares.report import PROTOCOLS, build_results, print_results, save_results
from xares.scheduler import (
    EXECUTORS,
    ExecutorError,
    ExecutorOptions,
    RayOptions,
    SlurmOptions,
    TaskUnit,
    parse_key_value,
    run_units,
)
from xares.task import OVERWRITE_POLICIES, RunOptions, TaskResult

STAGES = {0: "acquire audio", 1: "encode", 2: "probe and report"}


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
        default=None,
        metavar="DIR",
        help="where audio shards, embeddings and score caches live (default: the task's env_root, ./env)",
    )
    parser.add_argument(
        "--results",
        default=None,
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
    parser.add_argument(
        "--device", default=None, help="torch device for the encoder (default: cuda if available)"
    )
    parser.add_argument(
        "--zenodo-url",
        default=None,
        metavar="URL",
        help="base URL of the Zenodo server (default https://zenodo.org, or $XARES_ZENODO_URL)",
    )
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
        default=None,
        metavar="K|weighted",
        help="for encoders that return several layers ([B, L, T', D], num_layers): probe layer K "
        "(negative counts from the end) or a learned softmax-weighted sum of all layers ('weighted'); "
        "default: each task's own choice, else the last layer. Switching layers re-uses the embeddings",
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
    where.add_argument("--slurm-partition", default=None, metavar="NAME", help="Slurm partition")
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
        default=None,
        metavar="DIR",
        help="job scripts, pickles and logs, on a shared path (default <env root>/slurm-logs)",
    )
    where.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDRESS",
        help="Ray cluster to join (e.g. ray://head:10001 or auto); default: start a local one",
    )
    where.add_argument("--ray-cpus-per-task", type=float, default=1.0, metavar="N", help="default 1")
    where.add_argument(
        "--ray-gpus-per-task",
        type=float,
        default=None,
        metavar="N",
        help="default: 1 when the Ray cluster has GPUs, else 0",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")


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


def run_benchmark(args: argparse.Namespace, console: Console | None = None) -> int:
    """Run the benchmark described by parsed arguments; the exit status says whether all tasks succeeded."""
    console = console or Console()
    if args.from_stage > args.to_stage:
        console.print(f"[red]--from-stage {args.from_stage} is after --to-stage {args.to_stage}[/red]")
        return 2
    needs_encoder = args.to_stage >= 1
    encoder_spec = str(Path(args.encoder)) if needs_encoder else None
    encoder_dict = {"name": Path(args.encoder).stem, "fingerprint": "", "source": args.encoder}
    if needs_encoder:
        try:
            encoder = load_encoder(args.encoder)
        except Exception as exc:
            console.print(f"[red]cannot load the encoder:[/red] {exc}")
            return 2
        if not args.skip_check and args.from_stage <= 1:
            failures = find_contract_violations(encoder)
            if failures:
                console.print(f"[red]{type(encoder).__name__} fails check_audio_encoder:[/red]")
                for failure in failures:
                    console.print(f"  - {failure}")
                return 2
        encoder_dict = describe_encoder(encoder, args.encoder).to_dict()

    options = RunOptions(
        overwrite=args.overwrite,
        encode=EncodeOptions(device=args.device, autocast=args.autocast),
        zenodo_base_url=args.zenodo_url,
        # bars only here on a terminal: those of several workers or of cluster jobs would interleave
        progress=sys.stderr.isatty() and args.max_jobs <= 1 and getattr(args, "executor", "local") == "local",
        mini=args.mini,
        skip_bad_samples=args.skip_bad_samples,
        protocol=args.protocol,
        seeds=args.seeds,
        quiet=args.quiet,
        layer=getattr(args, "layer", None),
    )
    if args.seeds < 1 or args.bootstrap < 0:
        console.print("[red]--seeds must be at least 1 and --bootstrap at least 0[/red]")
        return 2
    units = [
        TaskUnit(
            task_file=str(t),
            encoder_spec=encoder_spec,
            env_root=args.env_root,
            from_stage=args.from_stage,
            to_stage=args.to_stage,
            options=options,
        )
        for t in args.tasks
    ]

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

    started = time.perf_counter()
    try:
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
        results = run_units(units, max_jobs=args.max_jobs, on_result=announce, executor=executor)
    except ExecutorError as exc:
        console.print(f"[red]cannot run the tasks with --executor {args.executor}:[/red] {exc}")
        return 2
    failed = [r for r in results if r.status == "failed"]
    if args.to_stage >= 2:
        run_info = {
            "from_stage": args.from_stage,
            "to_stage": args.to_stage,
            "max_jobs": args.max_jobs,
            "executor": args.executor,
            "env_root": args.env_root or "env",
            "overwrite": args.overwrite,
            "seconds": round(time.perf_counter() - started, 3),
            "protocol": args.protocol,
            "seeds": args.seeds,
            "layer": getattr(args, "layer", None),
            "autocast": args.autocast,
        }
        document = build_results(
            encoder_dict, [r.to_dict() for r in results], run_info, resamples=args.bootstrap
        )
        layer = getattr(args, "layer", None)
        default_name = "results" + ("" if layer is None else f"-layer-{layer}")
        autocast = args.autocast
        default_name += ("" if autocast == "off" else f"-{autocast}") + ".json"
        path = Path(args.results or Path("results") / encoder_dict["name"] / default_name)
        failpoint("results.before_write")
        save_results(document, path)
        print_results(document, console)
        console.print(f"results written to {path}")
    if failed:
        console.print(
            f"[red]{len(failed)} of {len(results)} tasks failed:[/red] " + ", ".join(r.name for r in failed)
        )
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
