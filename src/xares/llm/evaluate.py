"""Generation and scoring of the LLM track: greedy answers on each task's test clips, scored from the
generated text as published (xares.metrics.generated), with per-clip records, a bootstrap interval,
and a chance control (the most frequent training answer given for every clip, scored the same way).

A metric whose models cannot be had here (FENSE needs a Sentence-BERT and an error detector; DATE
its own models) is reported as missing with the reason, never replaced by another.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import numpy as np

from xares import stats
from xares.llm.answers import TaskAnswers
from xares.llm.model import AudioLlm
from xares.llm.protocol import LlmSettings
from xares.llm.train import TaskData
from xares.metrics import get_metric

# The published metric names (XARES-LLM's YAML files) and the X-ARES metric that computes each.
METRIC_NAMES = {"Accuracy": "text_accuracy", "mAP": "text_mAP", "iWER": "iWER", "iCER": "iCER"}
MISSING_METRICS = {
    "FENSE": "FENSE scores captions with a Sentence-BERT model and a fluency-error detector, whose "
    "weights come from the Hugging Face hub and are not on this machine",
    "DATE": "DATE (MECAT) scores with its own embedding models, which are not on this machine",
}
RESAMPLES = 1000


def metric_of(answers: TaskAnswers) -> tuple[str | None, str | None]:
    """(X-ARES metric name, None) or (None, why the published metric cannot be computed here)."""
    if answers.metric in METRIC_NAMES:
        return METRIC_NAMES[answers.metric], None
    if answers.metric in MISSING_METRICS:
        return None, MISSING_METRICS[answers.metric]
    return None, (
        f"{answers.source}: metric {answers.metric!r} is not one of the LLM track's "
        f"{sorted(METRIC_NAMES) + sorted(MISSING_METRICS)}"
    )


def generate_answers(
    model: AudioLlm,
    data: TaskData,
    settings: LlmSettings,
    *,
    on_batch: Callable[[int], Any] | None = None,
) -> list[str]:
    """The generated text of every test item, in item order (batched longest first, for speed)."""
    prompt = model.prompt_ids(data.prompt)
    order = sorted(range(len(data.items)), key=lambda i: -len(data.frames(i)))
    texts: list[str] = [""] * len(order)
    for start in range(0, len(order), settings.eval_batch_size):
        batch = order[start : start + settings.eval_batch_size]
        generated = model.generate(
            [np.asarray(data.frames(i), dtype=np.float32) for i in batch],
            [prompt] * len(batch),
            max_new_tokens=settings.max_new_tokens,
            repetition_penalty=settings.repetition_penalty,
        )
        for index, text in zip(batch, generated, strict=True):
            texts[index] = text
        if on_batch is not None:
            on_batch(len(batch))
    return texts


def score_texts(
    metric_name: str,
    generated: list[str],
    references: list[str],
    keys: list[str],
    *,
    seed: int,
    fold_name: str,
    task: str,
    resamples: int = RESAMPLES,
) -> dict[str, Any]:
    """The score, its 95% interval and the per-clip data (xares.stats' TestClips) of generated texts."""
    metric = get_metric(metric_name)
    value = float(metric.compute(generated, references))
    kind, arrays = metric.per_clip(generated, references)
    record = stats.ClipRecord(keys=keys, scores={"mlp_score": (kind, arrays)})
    clips = stats.merge_records([[record]], [seed], [fold_name])
    ci95 = None
    if resamples > 0:
        replicates = stats.bootstrap(clips, ["mlp_score"], resamples=resamples, seed=stats.stable_seed(task))
        ci95 = stats.interval(replicates["mlp_score"], observed=value)
    return {"score": value, "ci95": ci95, "per_clip": clips.to_json()}


def chance_score(metric_name: str, train_texts: list[str], references: list[str]) -> float | None:
    """The score of always answering the most frequent training answer: what an encoder that carries
    no information about the clip earns (the control the encoder's score must beat)."""
    if not train_texts or metric_name in ("iWER", "iCER"):
        return None
    majority = collections.Counter(train_texts).most_common(1)[0][0]
    return float(get_metric(metric_name).compute([majority] * len(references), references))


def evaluate_task(
    model: AudioLlm,
    answers: TaskAnswers,
    train: TaskData | None,
    test: TaskData,
    settings: LlmSettings,
    *,
    resamples: int = RESAMPLES,
    on_batch: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """One task's entry of the LLM block: metric, score, ci95, chance, per-clip data and texts."""
    metric_name, missing = metric_of(answers)
    entry: dict[str, Any] = {
        "name": answers.task,
        "metric": answers.metric,
        "xares_metric": metric_name,
        "prompt": answers.prompt,
        "counterpart": answers.counterpart,
        "num_test_clips": len(test.items),
        "num_train_items": len(train.items) if train is not None else 0,
    }
    if missing is not None:
        return {**entry, "status": "missing", "reason": missing, "score": None, "ci95": None}
    generated = generate_answers(model, test, settings, on_batch=on_batch)
    references = [text for _, _, text in test.items]
    scored = score_texts(
        metric_name,
        generated,
        references,
        test.keys,
        seed=settings.seed,
        fold_name="+".join(str(s) for s in answers.test),
        task=answers.task,
        resamples=resamples,
    )
    train_texts = [text for _, _, text in train.items] if train is not None else []
    return {
        **entry,
        "status": "ok",
        **scored,
        "chance": chance_score(metric_name, train_texts, references),
        "generated": generated,
        "references": references,
    }
