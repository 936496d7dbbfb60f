"""Training the LLM track from the store: the published mixture of tasks, read from the frames the
encode stage wrote, so the encoder never runs here.

What the loop keeps from the published protocol (the transformers Trainer's defaults under its
settings): the seed before the adapters are built and for the batch draws, AdamW with weight decay on
the weight matrices only, linear warm-up then linear decay, gradient clipping at max_grad_norm,
gradient accumulation, and mixed-task batches drawn clip by clip with the tasks' `prob` weights (each
task's clips in a reshuffled order, resampled without end). Clips longer than crop_audio_seconds are
randomly cropped, as upstream crops the audio.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from xares.faults import failpoint
from xares.llm.model import AudioLlm
from xares.llm.protocol import LlmSettings, learning_rate_at
from xares.store import SplitEmbeddings


@dataclass
class TaskData:
    """One task's clips of one side (train or test): the stored splits and, per item, which clip and
    which answer text (a clip with several captions gives several items, as upstream)."""

    name: str
    prompt: str
    prob: float
    splits: list[SplitEmbeddings]
    items: list[tuple[int, int, str]]  # (split index, clip index, answer text)
    keys: list[str] = field(default_factory=list)  # per item: the clip key (for per-clip records)

    def frames(self, item: int) -> np.ndarray:
        split, clip, _ = self.items[item]
        return self.splits[split].clip_frames(clip)


class Mixture:
    """Batches of (task, frames, answer) drawn as the published RandomMix draws them."""

    def __init__(self, tasks: Sequence[TaskData], *, seed: int, max_frames: int | None) -> None:
        usable = [t for t in tasks if t.items]
        if not usable:
            raise ValueError("the LLM training mixture is empty: no task has training clips with answers")
        self.tasks = usable
        weights = np.asarray([t.prob for t in usable], dtype=np.float64)
        self.probs = weights / weights.sum()
        self.rng = np.random.default_rng(seed)
        self.max_frames = max_frames
        self._orders = [self.rng.permutation(len(t.items)) for t in usable]
        self._positions = [0] * len(usable)

    def _next_item(self, task: int) -> int:
        if self._positions[task] >= len(self._orders[task]):
            self._orders[task] = self.rng.permutation(len(self.tasks[task].items))
            self._positions[task] = 0
        item = int(self._orders[task][self._positions[task]])
        self._positions[task] += 1
        return item

    def draw(self, size: int) -> list[tuple[int, np.ndarray, str]]:
        batch = []
        for task in self.rng.choice(len(self.tasks), size=size, p=self.probs):
            data = self.tasks[int(task)]
            item = self._next_item(int(task))
            frames = np.asarray(data.frames(item), dtype=np.float32)
            if self.max_frames is not None and len(frames) > self.max_frames:
                start = int(self.rng.integers(0, len(frames) - self.max_frames + 1))
                frames = frames[start : start + self.max_frames]
            batch.append((int(task), frames, data.items[item][2]))
        return batch


@dataclass
class TrainingReport:
    steps: int
    seconds: float
    steps_per_second: float
    losses: list[float]  # mean loss of each logged interval
    final_loss: float | None


def make_optimiser(model: AudioLlm, settings: LlmSettings) -> torch.optim.AdamW:
    """AdamW as the Trainer builds it: weight decay on weight matrices, none on biases."""
    decay = [p for _, p in model.trainable_parameters() if p.ndim >= 2]
    no_decay = [p for _, p in model.trainable_parameters() if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.learning_rate,
    )


def train_llm(
    model: AudioLlm,
    tasks: Sequence[TaskData],
    settings: LlmSettings,
    *,
    hop_size_in_ms: float,
    on_step: Callable[[], Any] | None = None,
    log_every: int = 10,
) -> TrainingReport:
    """Train `model` (its projection and LoRA adapters) for settings.max_steps optimiser steps."""
    max_frames = max(1, int(round(settings.crop_audio_seconds * 1000.0 / hop_size_in_ms)))
    mixture = Mixture(tasks, seed=settings.seed, max_frames=max_frames)
    prompts = [model.prompt_ids(t.prompt) for t in mixture.tasks]
    answer_ids = functools.cache(model.answer_ids)  # each answer text tokenised once
    optimiser = make_optimiser(model, settings)
    parameters = [p for _, p in model.trainable_parameters()]
    model.train()
    losses, interval, started = [], [], time.perf_counter()
    for step in range(settings.max_steps):
        for group in optimiser.param_groups:
            group["lr"] = learning_rate_at(settings, step)
        optimiser.zero_grad(set_to_none=True)
        for _ in range(settings.gradient_accumulation_steps):
            batch = mixture.draw(settings.batch_size)
            loss = model.loss(
                [frames for _, frames, _ in batch],
                [prompts[task] for task, _, _ in batch],
                [answer_ids(text) for _, _, text in batch],
            )
            (loss / settings.gradient_accumulation_steps).backward()
            interval.append(float(loss.detach()))
        torch.nn.utils.clip_grad_norm_(parameters, settings.max_grad_norm)
        optimiser.step()
        if not math.isfinite(interval[-1]):
            raise FloatingPointError(
                f"LLM training diverged at step {step} (loss {interval[-1]}); lower --llm-lr or check the "
                "stored frames for huge values"
            )
        if (step + 1) % log_every == 0 or step + 1 == settings.max_steps:
            losses.append(float(np.mean(interval)))
            interval = []
        failpoint("llm.step")
        if on_step is not None:
            on_step()
    model.eval()
    seconds = time.perf_counter() - started
    return TrainingReport(
        steps=settings.max_steps,
        seconds=round(seconds, 3),
        steps_per_second=round(settings.max_steps / seconds, 4) if seconds > 0 else float("inf"),
        losses=[round(v, 5) for v in losses],
        final_loss=losses[-1] if losses else None,
    )
