"""The "MLP" protocol of X-ARES: LayerNorm + Linear on pooled clip embeddings.

The head trains through the one loop of xares.probes.training (Adam through the fused kernel, the
per-epoch cosine schedule, the best validation epoch kept, a tie keeping the earlier one) and is then
scored on test. Everything runs in memory from the embedding store, seeded, so two runs give identical
scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xares.metrics import Metric
from xares.probes.layers import layers_of, learned_weights, with_layer_mix
from xares.probes.training import Schedule, fit, single_thread

CRITERIA = {
    "CrossEntropyLoss": torch.nn.CrossEntropyLoss,
    "BCEWithLogitsLoss": torch.nn.BCEWithLogitsLoss,
    "MSELoss": torch.nn.MSELoss,
    "L1Loss": torch.nn.L1Loss,
}


@dataclass(frozen=True)
class LinearProbeSettings(Schedule):
    criterion: str


@dataclass
class ProbeOutcome:
    score: float
    best_epoch: int
    valid_score: float | None
    test_outputs: np.ndarray | list[np.ndarray]  # [N, C]; a frame head's: [T_i, C] per clip
    layer_weights: list[float] | None = None  # the learned mix of a multi-layer input (xares.probes.layers)

    def fold_fields(self) -> dict[str, Any]:
        """What a fold of results.json records of the head (layer_weights only for a multi-layer input)."""
        fields: dict[str, Any] = {
            "mlp_score": self.score,
            "best_epoch": self.best_epoch,
            "valid_score": self.valid_score,
        }
        if self.layer_weights is not None:
            fields["layer_weights"] = self.layer_weights
        return fields


class LinearHead(torch.nn.Module):
    def __init__(self, dim: int, outputs: int) -> None:
        super().__init__()
        self.norm = torch.nn.LayerNorm(dim)
        self.linear = torch.nn.Linear(dim, outputs)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(features))


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
    features = torch.as_tensor(train[0], dtype=torch.float32)
    classes = settings.criterion == "CrossEntropyLoss"
    targets = torch.as_tensor(train[1], dtype=torch.int64 if classes else torch.float32)
    if settings.criterion in ("MSELoss", "L1Loss") and targets.dim() == 1:
        targets = targets.unsqueeze(1)
    loss_fn = CRITERIA[settings.criterion]()

    def build() -> torch.nn.Module:  # features [N, D], or [N, L, D] for a learned mix of layers
        head = LinearHead(features.shape[-1], output_dim)
        return with_layer_mix(head, layers_of(features), learning_rate=settings.learning_rate)

    def train_epoch(head: torch.nn.Module, optimiser, generator: torch.Generator) -> None:
        order = torch.randperm(len(features), generator=generator)
        # one gather per epoch, then views: the same batches as indexing per step, at less cost per step
        shuffled_features, shuffled_targets = features[order], targets[order]
        for start in range(0, len(order), settings.batch_size):
            stop = start + settings.batch_size
            optimiser.zero_grad()
            loss = loss_fn(head(shuffled_features[start:stop]), shuffled_targets[start:stop])
            loss.backward()
            optimiser.step()

    def validate(head: torch.nn.Module) -> float:
        return metric.compute(predict(head, valid[0]), valid[1])

    with single_thread():
        fitted = fit(
            build,
            train_epoch,
            validate if valid is not None else None,
            schedule=settings,
            better=metric.better,
            on_epoch=on_epoch,
        )
    outputs = predict(fitted.model, test[0])
    return ProbeOutcome(
        score=metric.compute(outputs, test[1]),
        best_epoch=fitted.best_epoch,
        valid_score=fitted.valid_score,
        test_outputs=outputs,
        layer_weights=learned_weights(fitted.model),
    )
