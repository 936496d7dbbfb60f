"""The "MLP" protocol of X-ARES: LayerNorm + Linear on pooled clip embeddings.

Adam with torch defaults; the learning rate follows a per-epoch cosine from lr towards 0.1 x lr; the
epoch with the best validation metric is kept (a tie keeps the earlier one) and scored on test.
Everything runs in memory from the embedding store, seeded, so two runs give identical scores.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from xares.faults import failpoint
from xares.metrics import Metric
from xares.probes.layers import layers_of, learned_weights, with_layer_mix

CRITERIA = {
    "CrossEntropyLoss": torch.nn.CrossEntropyLoss,
    "BCEWithLogitsLoss": torch.nn.BCEWithLogitsLoss,
    "MSELoss": torch.nn.MSELoss,
    "L1Loss": torch.nn.L1Loss,
}


@dataclass(frozen=True)
class LinearProbeSettings:
    epochs: int
    learning_rate: float
    batch_size: int
    criterion: str
    seed: int


@dataclass
class ProbeOutcome:
    score: float
    best_epoch: int
    valid_score: float | None
    test_outputs: np.ndarray
    layer_weights: list[float] | None = None  # the learned mix of a multi-layer input (xares.probes.layers)


def epoch_learning_rate(base: float, epoch: int, epochs: int) -> float:
    """lr(e) = lr - 0.9 lr (1 - cos(pi e / epochs)) / 2, e from 0; constant when epochs == 1."""
    if epochs <= 1:
        return base
    return base - 0.9 * base * (1.0 - math.cos(math.pi * epoch / epochs)) / 2.0


class LinearHead(torch.nn.Module):
    def __init__(self, dim: int, outputs: int) -> None:
        super().__init__()
        self.norm = torch.nn.LayerNorm(dim)
        self.linear = torch.nn.Linear(dim, outputs)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(features))


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


class FusedAdam:
    """Adam with torch's defaults, stepping through the fused kernel that `torch.optim.Adam(fused=True)`
    calls, bit for bit the same updates (tests/test_probes.py checks it).

    Why not torch.optim itself: a linear head on 768-d features takes ~0.3 ms per step, and
    torch.optim's per-step bookkeeping (hooks, grouping by device, grad zeroing through dynamo guards)
    added ~40% to that, while its constructor imports torch._dynamo (1.3-3.7 s measured here) in every
    process. Falls back to torch.optim.Adam where the fused kernel does not exist.
    """

    def __init__(self, params: list[torch.nn.Parameter], *, lr: float) -> None:
        self.params = list(params)
        self.param_groups = [{"lr": lr}]  # the schedule sets the rate here, as on a torch optimizer
        self._fallback = None
        if not hasattr(torch, "_fused_adam_"):
            self._fallback = torch.optim.Adam(self.params, lr=lr)
            self.param_groups = self._fallback.param_groups
            return
        self._exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self._exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self._steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

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


def _as_targets(targets: np.ndarray, criterion: str) -> torch.Tensor:
    if criterion == "CrossEntropyLoss":
        return torch.as_tensor(targets, dtype=torch.int64)
    return torch.as_tensor(targets, dtype=torch.float32)


@torch.no_grad()
def predict(head: torch.nn.Module, features: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    head.eval()
    tensor = torch.as_tensor(features, dtype=torch.float32)
    return torch.cat([head(tensor[i : i + batch_size]) for i in range(0, len(tensor), batch_size)]).numpy()


def train_linear_probe(
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray] | None,
    test: tuple[np.ndarray, np.ndarray],
    *,
    output_dim: int,
    metric: Metric,
    settings: LinearProbeSettings,
    on_epoch: Callable[[], None] | None = None,
) -> ProbeOutcome:
    """Train on `train`, keep the best epoch on `valid` (the last epoch when there is none), score `test`."""
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    features = torch.as_tensor(train[0], dtype=torch.float32)
    targets = _as_targets(train[1], settings.criterion)
    if settings.criterion in ("MSELoss", "L1Loss") and targets.dim() == 1:
        targets = targets.unsqueeze(1)
    # features [N, D], or [N, L, D] for a learned mix of an encoder's layers
    head = with_layer_mix(
        LinearHead(features.shape[-1], output_dim), layers_of(features), learning_rate=settings.learning_rate
    )
    loss_fn = CRITERIA[settings.criterion]()
    optimiser = FusedAdam(list(head.parameters()), lr=settings.learning_rate)

    with single_thread():
        best_state, best_score, best_epoch = _train(
            head, features, targets, valid, loss_fn, optimiser, metric, settings, generator, on_epoch
        )
    head.load_state_dict(best_state)
    outputs = predict(head, test[0])
    return ProbeOutcome(
        score=metric.compute(outputs, test[1]),
        best_epoch=best_epoch,
        valid_score=best_score,
        test_outputs=outputs,
        layer_weights=learned_weights(head),
    )


def _train(
    head: LinearHead,
    features: torch.Tensor,
    targets: torch.Tensor,
    valid: tuple[np.ndarray, np.ndarray] | None,
    loss_fn: torch.nn.Module,
    optimiser: FusedAdam,
    metric: Metric,
    settings: LinearProbeSettings,
    generator: torch.Generator,
    on_epoch: Callable[[], None] | None = None,
) -> tuple[dict, float | None, int]:
    best_state, best_score, best_epoch = copy.deepcopy(head.state_dict()), None, -1
    for epoch in range(settings.epochs):
        for group in optimiser.param_groups:
            group["lr"] = epoch_learning_rate(settings.learning_rate, epoch, settings.epochs)
        head.train()
        order = torch.randperm(len(features), generator=generator)
        # one gather per epoch, then views: the same batches as indexing per step, at less cost per step
        shuffled_features, shuffled_targets = features[order], targets[order]
        for start in range(0, len(order), settings.batch_size):
            stop = start + settings.batch_size
            optimiser.zero_grad()
            loss = loss_fn(head(shuffled_features[start:stop]), shuffled_targets[start:stop])
            loss.backward()
            optimiser.step()
        failpoint("probe.epoch")
        if on_epoch is not None:  # progress display
            on_epoch()
        if valid is not None:
            score = metric.compute(predict(head, valid[0]), valid[1])
            if metric.better(score, best_score):
                best_state, best_score, best_epoch = copy.deepcopy(head.state_dict()), score, epoch
    if valid is None:
        best_state, best_epoch = copy.deepcopy(head.state_dict()), settings.epochs - 1
    return best_state, best_score, best_epoch
