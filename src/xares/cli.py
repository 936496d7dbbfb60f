"""The `xares` console command: run, check and report, each a thin layer over the Python API."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from xares.run import add_run_arguments, configure_logging, run_benchmark


def _check(args: argparse.Namespace, console: Console) -> int:
    from xares.audio_encoder_checker import find_contract_violations
    from xares.encoder import describe_encoder, load_encoder

    try:
        encoder = load_encoder(args.encoder)
    except Exception as exc:
        console.print(f"[red]cannot load the encoder:[/red] {exc}")
        return 2
    failures = find_contract_violations(encoder)
    if failures:
        console.print(f"[red]{type(encoder).__name__} fails {len(failures)} check(s):[/red]")
        for failure in failures:
            console.print(f"  - {failure}")
        return 1
    info = describe_encoder(encoder, args.encoder)
    console.print(
        f"[green]{info.name} keeps the X-ARES encoder contract[/green]: {info.sampling_rate} Hz, "
        f"{info.hop_size_in_ms:g} ms hop, {info.output_dim}-d, {info.num_parameters:,} parameters, "
        f"{'batches mixed lengths (frame_count)' if info.pads_safely else 'batches equal lengths only'}, "
        f"fingerprint {info.fingerprint[:12]}"
    )
    return 0


def _report(args: argparse.Namespace, console: Console) -> int:
    from xares.errors import ArtifactError
    from xares.report import load_results, print_results

    try:
        results = load_results(args.results)
    except ArtifactError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    print_results(results, console)
    return 0


def _fetch(args: argparse.Namespace, console: Console) -> int:
    """Stage 0 alone, or with --print-urls the manual fallback: every URL, its md5 and where it goes."""
    from xares.data.zenodo import manual_instructions
    from xares.task import RunOptions, XaresTask, load_task_config

    failures = 0
    options = RunOptions(zenodo_base_url=args.zenodo_url, progress=not args.quiet)
    for task_file in args.tasks:
        try:
            config = load_task_config(task_file, None, env_root=args.env_root)
            if args.print_urls:
                if not config.zenodo_id or config.private or config.generator is not None:
                    source = (
                        "generated on this machine" if config.generator else "private: place shards by hand"
                    )
                    console.print(f"# {config.name}: no download ({source}); shards go in {config.task_dir}")
                    continue
                console.print(f"# {config.name}: Zenodo record {config.zenodo_id}")
                for url, md5, target in manual_instructions(
                    config.zenodo_id, config.task_dir, base_url=args.zenodo_url
                ):
                    console.print(f"{url}\tmd5:{md5}\t{target}", soft_wrap=True, highlight=False)
                continue
            XaresTask(config, options=options).acquire()
            console.print(f"[green]✓ {config.name}[/green] audio ready in {config.task_dir}")
        except Exception as exc:
            failures += 1
            console.print(f"[red]✗ {task_file}[/red]: {exc}")
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xares", description="X-ARES: benchmark audio encoders.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="evaluate an encoder on tasks (same as python -m xares.run)")
    add_run_arguments(run)
    check = commands.add_parser("check", help="check that an encoder keeps the X-ARES contract")
    check.add_argument("encoder", help="encoder file (ENCODER.py or ENCODER.py:ClassName)")
    check.add_argument("-v", "--verbose", action="count", default=0)
    fetch = commands.add_parser("fetch", help="acquire the tasks' audio (stage 0) without encoding")
    fetch.add_argument("tasks", nargs="+", help="task files")
    fetch.add_argument(
        "--print-urls",
        action="store_true",
        help="only print each file's URL, md5 and destination (the manual download fallback)",
    )
    fetch.add_argument("--env-root", default=None, metavar="DIR", help="data root (default ./env)")
    fetch.add_argument(
        "--zenodo-url",
        default=None,
        metavar="URL",
        help="base URL of the Zenodo server (default https://zenodo.org, or $XARES_ZENODO_URL)",
    )
    fetch.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    fetch.add_argument("-v", "--verbose", action="count", default=0)
    report = commands.add_parser("report", help="print the table of a results.json again")
    report.add_argument("results", help="a results.json written by xares run")
    report.add_argument("-v", "--verbose", action="count", default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    console = Console()
    handlers = {"run": run_benchmark, "check": _check, "report": _report, "fetch": _fetch}
    if args.command == "run":
        return run_benchmark(args, console)
    return handlers[args.command](args, console)


if __name__ == "__main__":
    sys.exit(main())
