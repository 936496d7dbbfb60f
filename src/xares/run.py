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
from xares.report import build_results, print_results, save_results
from xares.scheduler import TaskUnit, run_units
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
        help="results file to write (default results/<EncoderName>/results.json)",
    )
    parser.add_argument(
        "--overwrite",
        choices=OVERWRITE_POLICIES,
        default="missing",
        help="missing: reuse every complete artifact (default); probe: retrain the heads; "
        "all: re-encode and retrain",
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
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")


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
        encode=EncodeOptions(device=args.device),
        zenodo_base_url=args.zenodo_url,
        progress=sys.stderr.isatty(),
        mini=args.mini,
    )
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
    results = run_units(units, max_jobs=args.max_jobs, on_result=announce)
    failed = [r for r in results if r.status == "failed"]
    if args.to_stage >= 2:
        run_info = {
            "from_stage": args.from_stage,
            "to_stage": args.to_stage,
            "max_jobs": args.max_jobs,
            "env_root": args.env_root or "env",
            "overwrite": args.overwrite,
            "seconds": round(time.perf_counter() - started, 3),
        }
        document = build_results(encoder_dict, [r.to_dict() for r in results], run_info)
        path = Path(args.results or Path("results") / encoder_dict["name"] / "results.json")
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
