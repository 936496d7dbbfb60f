"""The `xares` console command: run, check and report, each a thin layer over the Python API."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from rich.console import Console

from xares.run import add_download_arguments, add_run_arguments, configure_logging, run_benchmark


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
        f"{info.hop_size_in_ms:g} ms hop, {info.output_dim}-d, "
        f"{f'{info.num_layers} layers, ' if info.num_layers is not None else ''}"
        f"{info.num_parameters:,} parameters, "
        f"{'batches mixed lengths (frame_count)' if info.pads_safely else 'batches equal lengths only'}, "
        f"fingerprint {info.fingerprint[:12]}"
    )
    return 0


def _load_all(paths: list[str], console: Console) -> list[dict] | None:
    from xares.errors import ArtifactError
    from xares.report import load_results

    try:
        return [load_results(path) for path in paths]
    except ArtifactError as exc:
        console.print(f"[red]{exc}[/red]")
        return None


def _write_or_print(text: str, output: str | None, console: Console) -> None:
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
        console.print(f"written to {output}", highlight=False)
    else:
        sys.stdout.write(text)


def _report(args: argparse.Namespace, console: Console) -> int:
    """Render results files again, without re-running: a table, markdown, CSV or HTML, and PNG plots."""
    from xares.report import print_report, render

    documents = _load_all(args.results, console)
    if documents is None:
        return 2
    if args.format == "table":
        print_report(documents, console, resamples=args.bootstrap)
    else:
        _write_or_print(render(documents, args.format, resamples=args.bootstrap), args.output, console)
    if args.plots:
        from xares.report.plots import write_plots

        written = write_plots(documents, args.plots, resamples=args.bootstrap)
        console.print(f"{len(written)} plots written to {args.plots}", highlight=False)
    return 0


def _compare(args: argparse.Namespace, console: Console) -> int:
    """Per task, A - B with a paired bootstrap test over the test clips both results share."""
    from xares.report import print_wide
    from xares.report.compare import compare_files, comparison_markdown, comparison_table

    documents = _load_all([args.a, args.b], console)
    if documents is None:
        return 2
    rows, labels, notes = compare_files(documents, resamples=args.bootstrap)
    if args.format == "markdown":
        _write_or_print(comparison_markdown(rows, labels, notes), args.output, console)
        return 0
    for table in comparison_table(rows, labels):
        print_wide(console, table)
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    console.print("* p < 0.05 in a paired bootstrap over the shared test clips", highlight=False)
    return 0


def _fetch(args: argparse.Namespace, console: Console) -> int:
    """Stage 0 alone, or with --print-urls the manual fallback: every URL, its checksum, size, destination.

    --print-urls prints a table for people (the default), or with --format tsv|json one row per file
    (task, url, md5, sha256, bytes, destination) on stdout for scripts; errors then go to stderr so
    that stdout stays parseable.
    """
    from xares.acquire import acquire
    from xares.data.zenodo import RetryPolicy
    from xares.errors import DataError
    from xares.task import load_task_config

    failures = 0
    machine = args.print_urls and args.format != "table"
    errors = Console(stderr=True) if machine else console
    if machine:  # log messages (retries, waits) must not land in the rows a script parses
        from rich.logging import RichHandler

        logging.basicConfig(
            level=logging.getLogger().level,
            format="%(message)s",
            handlers=[RichHandler(console=errors, show_path=False)],
            force=True,
        )
    if args.format != "table" and not args.print_urls:
        errors.print(f"[red]✗[/red] --format {args.format} only applies to --print-urls")
        return 2
    try:
        chosen = {"max_retry_after_s": args.max_retry_after, "read_timeout_s": args.read_timeout}
        retry = RetryPolicy(**{k: v for k, v in chosen.items() if v is not None})
    except DataError as exc:
        errors.print(f"[red]✗[/red] {exc}")
        return 2
    if args.debian_mirror:
        from xares.data.debian import MIRROR_ENV, resolve_mirror

        try:  # the generators fetch their packages from the mirror the environment names
            os.environ[MIRROR_ENV] = resolve_mirror(args.debian_mirror)
        except DataError as exc:
            errors.print(f"[red]{exc}[/red]")
            return 2
    rows: list[dict] = []
    no_download: list[dict] = []
    for task_file in args.tasks:
        try:
            config = load_task_config(task_file, None, env_root=args.env_root)
            if args.mini:
                config.use_mini_dataset = True
            if args.print_urls:
                title, found = _download_rows(config, args.zenodo_url, retry)
                if found is None:
                    no_download.append(
                        {"task": config.name, "source": title, "shards_go_in": str(config.task_dir)}
                    )
                    if not machine:
                        console.print(
                            f"# {config.name}: no download ({title}); shards go in {config.task_dir}"
                        )
                    continue
                rows.extend(found)
                if not machine:
                    console.print(f"# {config.name}: {title}", soft_wrap=True, highlight=False)
                    for row in found:
                        checksum = f"md5:{row['md5']}" if row["md5"] else f"sha256:{row['sha256']}"
                        console.print(
                            f"{row['url']}\t{checksum}\t{row['bytes'] / 1e6:.2f} MB\t{row['destination']}",
                            soft_wrap=True,
                            highlight=False,
                        )
                continue
            acquire(config, base_url=args.zenodo_url, progress=not args.quiet, retry=retry)
            console.print(f"[green]✓ {config.name}[/green] audio ready in {config.task_dir}")
        except Exception as exc:
            failures += 1
            errors.print(f"[red]✗ {task_file}[/red]: {exc}")
    if machine:
        _write_download_rows(rows, no_download, args.format)
    return 1 if failures else 0


DOWNLOAD_COLUMNS = ("task", "url", "md5", "sha256", "bytes", "destination")


def _download_rows(config, zenodo_url: str | None, retry) -> tuple[str, list[dict] | None]:  # noqa: ANN001
    """(title, one row per file to download) for --print-urls; rows None: the task downloads nothing."""
    debian = getattr(config.generator, "debian_packages", ())
    if debian:
        from xares.data.debian import package_url

        return f"{len(debian)} Debian packages", [
            {
                "task": config.name,
                "url": package_url(pkg),
                "md5": "",
                "sha256": pkg.sha256,
                "bytes": pkg.size,
                "destination": str(Path(config.env_root) / ".downloads" / "debian" / pkg.file_name),
            }
            for pkg in debian
        ]
    if not config.zenodo_id or config.private or config.generator is not None:
        return ("generated on this machine" if config.generator else "private: place shards by hand"), None
    from xares.data.zenodo import manual_instructions

    listing = manual_instructions(config.zenodo_id, config.task_dir, base_url=zenodo_url, retry=retry)
    total_mb = sum(size for *_, size in listing) / 1e6
    title = f"Zenodo record {config.zenodo_id}, {len(listing)} files, {total_mb:.2f} MB"
    return title, [
        {"task": config.name, "url": url, "md5": md5, "sha256": "", "bytes": size, "destination": str(target)}
        for url, md5, target, size in listing
    ]


def _write_download_rows(rows: list[dict], no_download: list[dict], fmt: str) -> None:
    """TSV (a header, then one file a line) or JSON ({"files": [...], "no_download": [...]}) on stdout."""
    if fmt == "json":
        import json

        json.dump({"files": rows, "no_download": no_download}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    import csv

    writer = csv.DictWriter(sys.stdout, DOWNLOAD_COLUMNS, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _shard_bytes(text: str) -> int:
    """'512M', '1G', '300000': bytes, K/M/G meaning powers of 1024 (an optional trailing 'B' or 'iB')."""
    number = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(number[-1:], 1)
    try:
        return int(float(number[:-1] if scale > 1 else number) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (bytes, or e.g. 512M, 2G)") from None


def _pack(args: argparse.Namespace, console: Console) -> int:
    """A folder of the user's audio and a labels table written as X-ARES shards, and a task file for them."""
    from xares.data.pack import PackError, pack, task_skeleton

    # stdout holds only the task file: `xares pack ... > my_task.py`
    status = Console(stderr=True, markup=False, highlight=False)
    try:
        result = pack(
            args.audio_dir,
            args.labels,
            args.out,
            args.split_column,
            file_column=args.file_column,
            columns=args.columns.split(",") if args.columns else None,
            splits=args.splits.split(",") if args.splits else None,
            max_shard_bytes=args.max_shard_size,
            resample=args.resample,
            encode=args.encode,
            infer_types=not args.keep_strings,
            ignore_unlisted=args.ignore_unlisted,
            overwrite=args.force,
        )
    except PackError as exc:
        from rich.text import Text

        status.print(Text.assemble(("✗ xares pack: ", "red"), str(exc)), soft_wrap=True)
        return 1
    for packed in result.splits.values():
        status.print(
            f"✓ {packed.split}: {packed.samples} clips in {len(packed.shards)} shard(s) {packed.pattern}"
        )
    status.print(f"written to {result.out_dir} in {result.seconds:.1f} s")
    try:
        text = task_skeleton(result, label_column=args.label_column)
    except PackError as exc:
        status.print(f"no task file printed: {exc}", soft_wrap=True)
        return 0
    env_root = result.out_dir.parent
    where = "" if env_root.resolve() == Path("env").resolve() else f" --env-root {env_root}"
    task_file = args.write_task or result.task_file_name
    if args.write_task:
        Path(args.write_task).write_text(text, encoding="utf-8")
        status.print(f"task file written to {args.write_task}")
    else:
        status.print(
            f"the task file follows on stdout: save it as {task_file} (or --write-task FILE)", highlight=True
        )
        sys.stdout.write(text)
        sys.stdout.flush()
    status.print(f"run it: python -m xares.run ENCODER.py {task_file}{where}", soft_wrap=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xares", description="X-ARES: benchmark audio encoders.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="evaluate an encoder on tasks (same as python -m xares.run)")
    add_run_arguments(run)
    check = commands.add_parser("check", help="check that an encoder keeps the X-ARES contract")
    check.add_argument("encoder", help="encoder file (ENCODER.py or ENCODER.py:ClassName)")
    fetch = commands.add_parser("fetch", help="acquire the tasks' audio (stage 0) without encoding")
    fetch.add_argument("tasks", nargs="+", help="task files")
    fetch.add_argument(
        "--print-urls",
        action="store_true",
        help="only print each file's URL, md5, size (MB) and destination (the manual download fallback)",
    )
    fetch.add_argument(
        "--format",
        choices=("table", "tsv", "json"),
        default="table",
        help="with --print-urls: table (for people, the default), tsv (a header row, then task, url, md5, "
        "sha256, bytes, destination) or json (files and the tasks that download nothing)",
    )
    fetch.add_argument("--env-root", metavar="DIR", help="data root (default ./env)")
    add_download_arguments(fetch)
    fetch.add_argument(
        "--mini",
        action="store_true",
        help="acquire (and check) each task's mini shard selection, as `xares run --mini` uses it",
    )
    fetch.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    pack = commands.add_parser(
        "pack", help="write a folder of your own audio and a labels CSV/JSONL as X-ARES shards (a new task)"
    )
    pack.add_argument("audio_dir", metavar="AUDIO_DIR", help="folder of audio files (sub-folders included)")
    pack.add_argument(
        "--labels", required=True, metavar="FILE", help="labels .csv, .tsv or .jsonl: one row per audio file"
    )
    pack.add_argument(
        "--out", required=True, metavar="DIR", help="the task's folder to write, e.g. env/mytask"
    )
    pack.add_argument(
        "--split-column",
        default="split",
        metavar="NAME",
        help="column holding train/valid/test or the fold number (default split)",
    )
    pack.add_argument(
        "--file-column",
        metavar="NAME",
        help="column holding each audio file's path below AUDIO_DIR (default: file, filename, path, ...)",
    )
    pack.add_argument(
        "--columns", metavar="A,B", help="label columns written to the JSON (default: all others)"
    )
    pack.add_argument(
        "--splits",
        metavar="TRAIN,VALID,TEST",
        help="split names other than train,valid,test, in that order (two: the last also validates)",
    )
    pack.add_argument("--label-column", metavar="NAME", help="the printed task file's label (default: label)")
    pack.add_argument(
        "--max-shard-size",
        type=_shard_bytes,
        default="512M",
        metavar="SIZE",
        help="largest shard, in bytes or with K/M/G (default 512M)",
    )
    pack.add_argument(
        "--resample", type=int, metavar="HZ", help="re-encode at this rate (FLAC unless --encode)"
    )
    pack.add_argument(
        "--encode", choices=("flac", "wav"), help="re-encode (default: the files' bytes as they are)"
    )
    pack.add_argument("--keep-strings", action="store_true", help="CSV values stay text (no JSON numbers)")
    pack.add_argument(
        "--ignore-unlisted",
        action="store_true",
        help="leave out audio files the labels do not list (no error)",
    )
    pack.add_argument("--force", action="store_true", help="replace the shards already in --out")
    pack.add_argument("--write-task", metavar="FILE", help="write the task file there instead of to stdout")
    report = commands.add_parser(
        "report", help="render results.json files again (table, markdown leaderboard, CSV, HTML, plots)"
    )
    report.add_argument(
        "results", nargs="+", help="results.json files written by xares run (one per encoder)"
    )
    report.add_argument(
        "--format",
        choices=("table", "markdown", "csv", "html"),
        default="table",
        help="table: the terminal table (default); markdown: leaderboard shaped like the upstream README; "
        "csv: one row per encoder, task and score; html: a self-contained report",
    )
    report.add_argument("-o", "--output", metavar="FILE", help="write there instead of stdout")
    report.add_argument("--plots", metavar="DIR", help="also write PNG plots into DIR")
    report.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="resamples of the paired tests behind the significance marks (default 1000; 0: none)",
    )
    compare = commands.add_parser("compare", help="per task difference of two results, with a paired test")
    compare.add_argument("a", metavar="A.json", help="first results file")
    compare.add_argument("b", metavar="B.json", help="second results file")
    compare.add_argument("--format", choices=("table", "markdown"), default="table")
    compare.add_argument("-o", "--output", metavar="FILE", help="write there instead of stdout")
    compare.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="resamples (default 1000)")
    for command in (check, fetch, pack, report, compare):
        command.add_argument("-v", "--verbose", action="count", default=0)
    from xares.llm.cli import add_llm_arguments

    add_llm_arguments(
        commands.add_parser("llm", help="the LLM track (XARES-LLM) trained from the stored embeddings")
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    from xares.llm.cli import llm_command

    handlers = {
        "run": run_benchmark,
        "check": _check,
        "report": _report,
        "fetch": _fetch,
        "pack": _pack,
        "compare": _compare,
        "llm": llm_command,
    }
    return handlers[args.command](args, Console())


if __name__ == "__main__":
    sys.exit(main())
