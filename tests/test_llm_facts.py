"""The published XARES-LLM configuration, reproduced field by field: xares/llm/published.json (what
`xares llm --published` runs) against tests/facts/xares_llm.json, the facts table written by hand from
the upstream files (each field names its file). A difference fails with the field and both values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xares.llm.protocol import published_settings, published_table

FACTS = json.loads((Path(__file__).parent / "facts" / "xares_llm.json").read_text(encoding="utf-8"))
SCALARS = sorted(k for k in FACTS if not k.startswith("_") and not k.startswith("task1"))


def ours(field: str):
    settings = published_settings()
    if field.startswith("lora."):
        return getattr(settings.lora, field.split(".", 1)[1])
    return getattr(settings, field)


@pytest.mark.parametrize("field", SCALARS)
def test_each_published_setting_is_the_fact(field):
    fact = FACTS[field]
    assert ours(field) == fact["value"], (
        f"{field}: ours {ours(field)!r}, published {fact['value']!r} ({fact['from']})"
    )


def test_the_published_configuration_is_what_published_selects():
    settings = published_settings()
    assert settings.configuration == "published"
    assert settings.max_steps * settings.batch_size * settings.gradient_accumulation_steps == 1_600_000


def test_the_task1_mixture_is_the_published_one():
    train = published_table()["task1"]["train"]
    facts = FACTS["task1_train"]["value"]
    assert sorted(train) == sorted(facts)
    for name, (prompt, key, prob) in facts.items():
        assert (train[name]["prompt"], train[name]["key"], train[name]["prob"]) == (prompt, key, prob), name


def test_the_task1_evaluation_metrics_are_the_published_ones():
    evaluation = published_table()["task1"]["eval"]
    assert {name: entry["metric"] for name, entry in evaluation.items()} == FACTS["task1_eval_metric"][
        "value"
    ]
    classes = {n: e["num_classes"] for n, e in evaluation.items() if "num_classes" in e}
    assert classes == FACTS["task1_eval_num_classes"]["value"]


def test_the_offline_answers_use_the_published_prompts_of_their_counterparts():
    from xares.llm.answers import load_answers

    train = published_table()["task1"]["train"]
    for name in ("offline_keywords", "offline_languages", "offline_speaker_count", "offline_sound_classes"):
        answers = load_answers(name)
        assert answers.prompt == train[answers.counterpart]["prompt"], name
        assert answers.prob == train[answers.counterpart]["prob"], name
