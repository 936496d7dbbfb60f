"""The settings of the LLM track: the published XARES-LLM configuration, and the quick offline one.

The published values are data (published.json beside this file, with the upstream files they come
from); `published_settings()` reads them, and tests/test_llm_facts.py holds them to the facts table
field by field. `offline_settings()` is the same protocol with a step count and learning rate that
let the offline suite finish in minutes on two CPU cores; results.json says which of the two ran
(`configuration`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

PROTOCOL_NAME = "xares-llm"


@cache
def published_table() -> dict[str, Any]:
    """published.json as shipped (the upstream settings, the Task 1 mixture and its evaluation)."""
    return json.loads(resources.files("xares.llm").joinpath("published.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class LoraSettings:
    """LoRA as published: rank, alpha, dropout, on every linear layer of the LM, no bias training."""

    r: int
    alpha: int
    dropout: float
    target_modules: str
    bias: str


@dataclass(frozen=True)
class LlmSettings:
    """Everything that decides an LLM-track score besides the encoder and the data."""

    configuration: Literal["published", "offline"]
    protocol_version: str
    llm: str  # the published LM's name; the LM actually used is recorded beside it
    lora: LoraSettings
    max_steps: int
    batch_size: int
    gradient_accumulation_steps: int
    learning_rate: float
    weight_decay: float
    warmup_steps: int
    schedule: Literal["linear", "cosine"]
    max_grad_norm: float
    seed: int
    crop_audio_seconds: float
    repetition_penalty: float
    max_new_tokens: int
    eval_batch_size: int = 32
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> LlmSettings:
        return dataclasses.replace(self, **changes)


def published_settings() -> LlmSettings:
    """The configuration of the published protocol (100k steps of 4 x 4 clips, lr 1e-4, AdamW)."""
    table = published_table()
    train, generation = table["training"], table["generation"]
    return LlmSettings(
        configuration="published",
        protocol_version=table["version"],
        llm=table["llm"],
        lora=LoraSettings(**table["lora"]),
        max_steps=int(train["max_steps"]),
        batch_size=int(train["batch_size"]),
        gradient_accumulation_steps=int(train["gradient_accumulation_steps"]),
        learning_rate=float(train["learning_rate"]),
        weight_decay=float(train["weight_decay"]),
        warmup_steps=int(train["warmup_steps"]),
        schedule=train["schedule"],
        max_grad_norm=float(train["max_grad_norm"]),
        seed=int(train["seed"]),
        crop_audio_seconds=float(train["crop_audio_seconds"]),
        repetition_penalty=float(generation["repetition_penalty"]),
        max_new_tokens=int(generation["max_new_tokens"]),
    )


# The offline run: every published choice kept except how long and how fast it trains, and how long
# an answer may grow (the offline answers are a few tokens; a transcript ~12 words). 1,500 steps: at 300
# the stand-in still gave the most frequent answer for most tasks (README, "LLM track").
OFFLINE_CHANGES: dict[str, Any] = {
    "max_steps": 1500,
    "batch_size": 8,
    "gradient_accumulation_steps": 1,
    "learning_rate": 3e-3,
    "warmup_steps": 30,
    "max_new_tokens": 32,
}


def offline_settings() -> LlmSettings:
    """The published protocol shortened to minutes on a CPU (OFFLINE_CHANGES says what differs)."""
    return published_settings().replace(configuration="offline", **OFFLINE_CHANGES)


def learning_rate_at(settings: LlmSettings, step: int) -> float:
    """The published schedule (the transformers Trainer's): linear warm-up over warmup_steps from 0,
    then linear decay to 0 at max_steps (or a half cosine when schedule is "cosine")."""
    import math

    if step < settings.warmup_steps:
        return settings.learning_rate * step / max(1, settings.warmup_steps)
    remaining = max(1, settings.max_steps - settings.warmup_steps)
    progress = min(1.0, (step - settings.warmup_steps) / remaining)
    if settings.schedule == "cosine":
        return settings.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))
    return settings.learning_rate * (1.0 - progress)
