"""The one training loop of every head: the clip MLP, the frame MLP, the retrieval towers, the CTC head
and the LLM adapter of ASR all train through `fit`.

What the loop owns, so that no head can drift from the published protocol on its own: the seed (the
global torch seed before the head is built, so its initial weights follow it, and a generator for the
batch order), Adam, the per-epoch cosine schedule from lr towards 0.1 x lr, train/eval modes, the
`probe.epoch` failpoint, progress, and model selection: after each epoch the validation score is
compared with `better` (Metric.better: strictly better, so a tie keeps the earlier epoch, as
published); without a validation set the last epoch is kept. The best epoch's weights are loaded back
before the head is tested.

What a head owns: its model (`build`), one epoch of its batches (`train_epoch`), and its validation
score (`validate`).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch

from xares.faults import failpoint

Optimiser = Any  # FusedAdam, PerTensorAdam or torch.optim.Adam: each has param_groups, zero_grad(), step()


@dataclass(frozen=True)
class Schedule:
    """How long, how fast and in what batches a head trains, and its seed; every head's settings extend it."""

    epochs: int
    learning_rate: float
    batch_size: int
    seed: int


def task_schedule(config: Any, seed: int) -> dict[str, Any]:
    """The Schedule fields of a task (TaskConfig: epochs, learning_rate, batch_size_train) with a seed."""
    return {
        "epochs": config.epochs,
        "learning_rate": config.learning_rate,
        "batch_size": config.batch_size_train,
        "seed": seed,
    }


@dataclass
class Fitted:
    """A trained head holding the weights of its best epoch."""

    model: torch.nn.Module
    best_epoch: int
    valid_score: float | None  # the best epoch's validation score; None without a validation set


def epoch_learning_rate(base: float, epoch: int, epochs: int) -> float:
    """lr(e) = lr - 0.9 lr (1 - cos(pi e / epochs)) / 2, e from 0; constant when epochs == 1."""
    if epochs <= 1:
        return base
    return base - 0.9 * base * (1.0 - math.cos(math.pi * epoch / epochs)) / 2.0


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run tiny-matrix training on one thread: with more, every step pays thread wake-ups, and on a
    busy machine spinning threads make each step ~30x slower (measured: 1.1 ms vs 36 ms)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class _Adam:
    """The parts FusedAdam and PerTensorAdam share: the rate in param_groups (the schedule sets it there,
    as on a torch optimizer), grads set to None, and torch.optim.Adam itself where the subclass cannot."""

    def __init__(self, params: list[torch.nn.Parameter], *, lr: float, use_torch: bool) -> None:
        self.params = params
        self.param_groups = [{"lr": lr}]
        self._fallback = torch.optim.Adam(self.params, lr=lr) if use_torch else None
        if self._fallback is not None:
            self.param_groups = self._fallback.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.params:
            param.grad = None


class FusedAdam(_Adam):
    """Adam with torch's defaults, stepping through the fused kernel that `torch.optim.Adam(fused=True)`
    calls, bit for bit the same updates (tests/test_probes.py checks it).

    Why not torch.optim itself: a linear head on 768-d features takes ~0.3 ms per step, and
    torch.optim's per-step bookkeeping (hooks, grouping by device, grad zeroing through dynamo guards)
    added ~40% to that, while its constructor imports torch._dynamo (1.3-3.7 s measured here) in every
    process. Falls back to torch.optim.Adam where the fused kernel does not exist.
    """

    def __init__(self, params: list[torch.nn.Parameter], *, lr: float) -> None:
        super().__init__(list(params), lr=lr, use_torch=not hasattr(torch, "_fused_adam_"))
        self._exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self._exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self._steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        if self._fallback is not None:
            self._fallback.step()
            return
        torch._foreach_add_(self._steps, 1)
        torch._fused_adam_(
            self.params,
            [p.grad for p in self.params],
            self._exp_avgs,
            self._exp_avg_sqs,
            [],
            self._steps,
            lr=float(self.param_groups[0]["lr"]),
            beta1=0.9,
            beta2=0.999,
            weight_decay=0.0,
            eps=1e-8,
            amsgrad=False,
            maximize=False,
        )


class PerTensorAdam(_Adam):
    """torch.optim.Adam's default CPU update (its per-tensor implementation, `_single_tensor_adam`, with
    torch's defaults), bit for bit (tests/test_fast_paths.py checks it), without torch.optim.

    Why: torch.optim.Optimizer.add_param_group is wrapped by torch._disable_dynamo, which imports
    torch._dynamo (and sympy) on first use: 1.3-4.7 s measured here, paid by every process that trains
    a frame, retrieval or ASR head, several times what the head's training costs. Parameters off the
    CPU go to torch.optim.Adam itself (there it picks its multi-tensor implementation).
    """

    def __init__(self, params: list[torch.nn.Parameter], *, lr: float) -> None:
        params = list(params)
        super().__init__(params, lr=lr, use_torch=any(p.device.type != "cpu" for p in params))
        # Adam's state as torch.optim.Adam creates it: created on a parameter's first gradient
        self._state: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def step(self) -> None:
        if self._fallback is not None:
            self._fallback.step()
            return
        lr, beta1, beta2, eps = float(self.param_groups[0]["lr"]), 0.9, 0.999, 1e-8
        for index, param in enumerate(self.params):
            grad = param.grad
            if grad is None:
                continue
            if index not in self._state:
                scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
                self._state[index] = (
                    torch.tensor(0.0, dtype=scalar),
                    torch.zeros_like(param, memory_format=torch.preserve_format),
                    torch.zeros_like(param, memory_format=torch.preserve_format),
                )
            step_t, exp_avg, exp_avg_sq = self._state[index]
            step_t += 1
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step = step_t.item()
            step_size = lr / (1 - beta1**step)
            bias_correction2_sqrt = (1 - beta2**step) ** 0.5
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)


def make_optimiser(
    model: torch.nn.Module, learning_rate: float, kind: Literal["fused", "torch"]
) -> Optimiser:
    """Adam with torch's defaults. "fused" steps through the fused kernel (FusedAdam); "torch" is
    torch.optim.Adam's default (per-tensor) implementation (PerTensorAdam, the same updates). Both
    compute Adam, but their float32 results differ in the last bits (~1e-7 per step), so a head keeps
    the one its published scores were made with."""
    if kind == "fused":
        return FusedAdam(list(model.parameters()), lr=learning_rate)
    return PerTensorAdam(list(model.parameters()), lr=learning_rate)


def fit(
    build: Callable[[], torch.nn.Module],
    train_epoch: Callable[[torch.nn.Module, Optimiser, torch.Generator], None],
    validate: Callable[[torch.nn.Module], float] | None,
    *,
    schedule: Schedule,
    better: Callable[[float, float | None], bool],
    optimiser: Literal["fused", "torch"] = "fused",
    on_epoch: Callable[[], None] | None = None,
) -> Fitted:
    """Seed, build the head, train it `schedule.epochs` epochs, and return it with its best epoch loaded.

    `train_epoch(model, optimiser, generator)` runs one epoch of batches (zero_grad, loss, backward,
    step; the generator orders the batches); `validate(model)` scores the validation set, or is None
    when the task has none (the last epoch is kept); `better(score, best)` is the metric's rule.
    """
    torch.manual_seed(schedule.seed)
    generator = torch.Generator().manual_seed(schedule.seed)
    model = build()
    adam = make_optimiser(model, schedule.learning_rate, optimiser)
    best_state, best_score, best_epoch = copy.deepcopy(model.state_dict()), None, -1
    for epoch in range(schedule.epochs):
        for group in adam.param_groups:
            group["lr"] = epoch_learning_rate(schedule.learning_rate, epoch, schedule.epochs)
        model.train()
        train_epoch(model, adam, generator)
        failpoint("probe.epoch")
        if on_epoch is not None:
            on_epoch()
        if validate is not None:
            model.eval()
            score = validate(model)
            if better(score, best_score):
                best_state, best_score, best_epoch = copy.deepcopy(model.state_dict()), score, epoch
    if validate is None:
        best_state, best_epoch = copy.deepcopy(model.state_dict()), schedule.epochs - 1
    model.load_state_dict(best_state)
    model.eval()
    return Fitted(model=model, best_epoch=best_epoch, valid_score=best_score)
