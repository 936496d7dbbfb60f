"""`xares llm ENCODER TASKS...`: the LLM track end to end.

Stages 0-1 of every task run as in `xares run` (acquire, encode into the store; complete stores are
reused), then the XARES-LLM model is trained once on the mixture of all the tasks' stored training
frames, and scored on each task's test split from the text it generates. The encoder runs only in the
encode stage: training and generation read the store.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from xares.atomic import write_json_atomic
from xares.errors import ArtifactError
from xares.llm.answers import TaskAnswers, load_answers
from xares.llm.evaluate import evaluate_task
from xares.llm.lm import TINY_RANDOM, load_language_model, vocabulary_words
from xares.llm.model import AudioLlm
from xares.llm.protocol import PROTOCOL_NAME, LlmSettings, offline_settings, published_settings
from xares.llm.results import LLM_KEY, overall, validate_llm_block
from xares.llm.train import TaskData, train_llm
from xares.probes.training import single_thread
from xares.progress import progress, progress_mode
from xares.report import load_results
from xares.report.results import build_results
from xares.stats import clip_keys
from xares.store import SplitEmbeddings, load_split

logger = logging.getLogger(__name__)


def settings_for(
    *, published: bool, steps: int | None = None, seed: int | None = None, learning_rate: float | None = None
) -> LlmSettings:
    """The published or the offline configuration, with the user's overrides (recorded as such)."""
    settings = published_settings() if published else offline_settings()
    changes: dict[str, Any] = {}
    if steps is not None:
        changes["max_steps"] = steps
        changes["warmup_steps"] = min(settings.warmup_steps, max(0, steps // 10))
    if seed is not None:
        changes["seed"] = seed
    if learning_rate is not None:
        changes["learning_rate"] = learning_rate
    if changes:
        settings = settings.replace(extra={**settings.extra, "overridden": sorted(changes)}, **changes)
    return settings


def task_data(
    answers: TaskAnswers, splits: dict[Any, SplitEmbeddings], names: tuple[Any, ...], *, every_text: bool
) -> TaskData:
    """The items of `names` (train: every answer text of a clip; test: its first)."""
    # the LLM track reads the encoder's output, i.e. the last layer of a multi-layer store
    chosen = [splits[name].layer(-1) for name in names]
    items, samples = [], []
    for index, data in enumerate(chosen):
        for clip, sample in enumerate(data.samples):
            where = (
                f"task {answers.task!r}, split {names[index]!r}, shard {sample.get('shard')}, "
                f"sample {sample.get('key')!r}"
            )
            texts = answers.texts(sample.get("meta"), where=where)
            for text in texts if every_text else texts[:1]:
                items.append((index, clip, text))
                samples.append(sample)
    return TaskData(answers.task, answers.prompt, answers.prob, chosen, items, keys=clip_keys(samples))


def run_llm(
    encoder: Any,
    task_files: list[str | Path],
    *,
    env_root: str | Path | None = None,
    llm: str | None = None,
    published: bool = False,
    steps: int | None = None,
    seed: int | None = None,
    learning_rate: float | None = None,
    answers_dir: str | Path | None = None,
    results_path: str | Path | None | bool = None,
    device: str = "cpu",
    resamples: int = 1000,
    show_progress: bool = False,
    quiet: bool = True,
    encoder_info: Any = None,
) -> dict[str, Any]:
    """Encode (or reuse the stores of) every task, train the LLM-track model once on their training
    frames, score each task from generated text; return the llm block, also written into results.json
    (`results_path`: a path, None for results/<Encoder>/results.json, False not to write)."""
    from xares.encoder import describe_encoder, load_encoder
    from xares.task import RunOptions, XaresTask, load_task_config

    started = time.perf_counter()
    source = str(encoder) if isinstance(encoder, (str, Path)) else ""
    module = load_encoder(str(encoder)) if isinstance(encoder, (str, Path)) else encoder
    info = encoder_info or describe_encoder(module, source)
    settings = settings_for(published=published, steps=steps, seed=seed, learning_rate=learning_rate)
    options = RunOptions(progress=show_progress, quiet=quiet)
    mode = "off" if quiet else "bar" if show_progress else "lines"

    train_sets, test_sets, chosen, skipped = [], [], [], []
    for path in task_files:
        config = load_task_config(path, module, env_root=env_root)
        answers = load_answers(config.name, answers_dir)
        if answers is None:
            reason = (
                f"no answers file for {config.name} (xares/llm/answers/, --answers DIR): not in the LLM track"
            )
            skipped.append({"name": config.name, "reason": reason})
            logger.info("%s", reason)
            continue
        task = XaresTask(config, options=options, encoder_info=info)
        task.run(from_stage=0, to_stage=1)
        names = list(dict.fromkeys([*answers.train, *answers.test]))
        known = [str(s) for s in config.data_splits()]
        unknown = [n for n in names if str(n) not in known]
        if unknown:
            raise ValueError(
                f"{answers.source}: splits {unknown} are not splits of task {config.name} ({known})"
            )
        splits = {n: load_split(task.split_dir(n), task.store_key(n)) for n in names}
        train_sets.append(task_data(answers, splits, answers.train, every_text=True))
        test_sets.append(task_data(answers, splits, answers.test, every_text=False))
        chosen.append(answers)
    if not chosen:
        raise ValueError(f"none of the {len(task_files)} task files is part of the LLM track: {skipped}")

    choice = "as asked (--llm)" if llm is not None else "the best language model on this machine"
    if llm is None and not published and not str(device).startswith("cuda"):
        # measured here: SmolLM2-135M takes minutes per step of 8 clips on 2 busy CPU cores, so the
        # offline CPU run would take hours; the stand-in keeps it to minutes and the block says so
        llm = TINY_RANDOM
        choice = (
            "offline configuration on a CPU: the tiny random stand-in (SmolLM2-135M trains at minutes per "
            "step on a 2-core CPU); pass --llm smollm2, --llm FOLDER or --device cuda for a real LM"
        )
        logger.warning("xares llm: %s", choice)
    # the stand-in's vocabulary: what it is asked and taught (never the test answers)
    taught = [text for t in train_sets for *_, text in t.items]
    words = vocabulary_words([t.prompt for t in train_sets] + taught)
    lm = load_language_model(llm, words=words)
    dims = {t.splits[0].frames.shape[-1] for t in train_sets}
    if len(dims) != 1:
        raise ValueError(
            f"the tasks' stores disagree on the frame width {sorted(dims)}: one encoder, one width"
        )
    torch.manual_seed(settings.seed)
    model = AudioLlm(lm.model, lm.tokenizer, dims.pop(), settings.lora).to(device)
    hop = float(info.hop_size_in_ms)
    # The stand-in's matrices are tiny: one thread is faster, and its sums (so its scores) do not
    # depend on how many cores the machine has. A real LM keeps torch's threads.
    one_thread = lm.source == TINY_RANDOM and not str(device).startswith("cuda")
    with progress_mode(mode), single_thread() if one_thread else contextlib.nullcontext():
        with progress("llm training", settings.max_steps, "steps") as bar:
            report = train_llm(model, train_sets, settings, hop_size_in_ms=hop, on_step=bar.advance)
        entries = []
        for answers, train, test in zip(chosen, train_sets, test_sets, strict=True):
            with progress(f"llm answers {answers.task}", len(test.items), "clips") as bar:
                entry = evaluate_task(
                    model, answers, train, test, settings, resamples=resamples, on_batch=bar.advance
                )
            entries.append(entry)
    block = {
        "protocol": PROTOCOL_NAME,
        "protocol_version": settings.protocol_version,
        "configuration": settings.configuration,
        "settings": settings.to_dict(),
        "llm": {**lm.describe(), "published_llm": settings.llm, "chosen": choice},
        "lora": settings.to_dict()["lora"],
        "steps": settings.max_steps,
        "seed": settings.seed,
        "device": device,
        "training": {
            "steps": report.steps,
            "seconds": report.seconds,
            "steps_per_second": report.steps_per_second,
            "losses": report.losses,
            "torch_threads": 1 if one_thread else torch.get_num_threads(),
            "from": "stored frame embeddings (the encoder does not run during training)",
        },
        "tasks": entries,
        "overall": overall(entries),
        "skipped": skipped,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if results_path is not False:
        from xares.api import default_results_path

        path = Path(results_path) if results_path else default_results_path(info.name)
        run = {"env_root": str(env_root) if env_root is not None else "env", "protocol": "published"}
        attach_llm_block(path, block, info.to_dict(), run)
        block["written_to"] = str(path)
    return block


def attach_llm_block(
    path: Path, block: dict[str, Any], encoder: dict[str, Any], run: dict[str, Any]
) -> dict[str, Any]:
    """results.json at `path` with `block` as its llm block (replacing an earlier one), written atomically."""
    validate_llm_block(block, str(path))
    if path.is_file():
        document = load_results(path)
        if document["encoder"].get("fingerprint") not in ("", encoder.get("fingerprint")):
            raise ArtifactError(
                f"{path} holds the results of another encoder (fingerprint "
                f"{document['encoder'].get('fingerprint', '')[:12]}, this one "
                f"{encoder.get('fingerprint', '')[:12]}); "
                "pass --results to write the LLM block elsewhere."
            )
        document = json.loads(path.read_text(encoding="utf-8"))  # as stored, not upgraded in memory
    else:
        document = build_results(encoder, [], {"stages": "llm", **run}, resamples=0)
    document[LLM_KEY] = block
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, document)
    return document
