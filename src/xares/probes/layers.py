"""Layer-wise probing: which layer of a multi-layer encoder the probes see.

A multi-layer encoder (`num_layers = L`, output [B, L, T', D]) leaves every layer in the store, so
the choice of layer is a probe setting, not an encoding one: switching layers retrains heads from the
same store (the score cache key holds the choice; the store key does not).

The choice (TaskConfig.layer, `xares run --layer`):

- None (default): the last layer of a multi-layer store; a single-layer store as it is.
- an integer K: layer K, negative counting from the end (-1 = last). A single-layer store has only
  layer 0 (= -1).
- "weighted": every layer, mixed by a softmax-weighted sum learned with the head (SUPERB's
  featurizer). Each layer is first normalised over its D values (layer norm without parameters),
  so a weight says how much a layer contributes, not how large its values happen to be. The mix sits
  in front of each probe's own head (clip MLP, frame MLP, the retrieval audio tower, the CTC head and
  the LLM adapter of ASR) and trains with it; the learned weights are recorded per fold
  ("layer_weights") and averaged in results.json. kNN trains nothing, so it cannot learn a mix: under
  "weighted" it uses the last layer, i.e. the kNN score equals that of the default choice.

The probes themselves know nothing of choices: `select_layers` hands them 2-D splits for a chosen
layer, and for "weighted" splits whose frames are [frames, L, D] and pooled vectors [N, L, D]; a probe
that finds the layer axis puts a LayerMix in front of its head.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from xares.errors import TaskConfigError
from xares.store import SplitEmbeddings

WEIGHTED = "weighted"
# Under Adam a parameter moves about lr per step whatever its gradient's size. The mixing logits are
# a multiple of their parameter, chosen so that they move about MIX_STEP per step at the schedule's
# peak, whatever the task's learning rate (1e-3 for most tasks, 1e-2 for some): a probe trains for
# hundreds of steps (SUPERB's featurizer for ~10^5), and at the head's own rate the weights would stay
# near uniform, while a fixed multiple would make them jump at 1e-2. Measured on the layer test task
# (tests/test_layers.py: 4 layers, 1 informative, 20 epochs at 1e-3), the informative layer's weight
# is 0.30 with a step of 0.001 (the head's own rate, i.e. no learning), 0.63 at 0.03, 0.69 at 0.1 and
# 0.72 at 0.3, and the weighted score matches or beats the best single layer from 0.03 on.
MIX_STEP = 0.1


def parse_layer(text: str) -> int | str:
    """'K' (an integer, negative from the end) or 'weighted' -> the TaskConfig.layer value."""
    if text.strip().lower() == WEIGHTED:
        return WEIGHTED
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"--layer takes an integer K (negative counts from the end) or {WEIGHTED!r}, got {text!r}"
        ) from None


def select_layers(
    splits: dict[Any, SplitEmbeddings], choice: int | str | None, *, task: str
) -> dict[Any, SplitEmbeddings]:
    """The splits as the probes see them under `choice` (see the module notes)."""
    first = next(iter(splits.values()))
    layers = first.num_layers
    multi = first.has_layer_axis
    if choice == WEIGHTED:
        if not multi:
            raise TaskConfigError(
                f"task {task!r}: layer={WEIGHTED!r} learns a weighted sum of an encoder's layers, but this "
                "encoder returns a single layer ([B, T', D]). Drop --layer, or use an encoder that declares "
                "num_layers and returns [B, L, T', D] (e.g. 'hf:NAME@layer=all')."
            )
        return splits
    index = -1 if choice is None else int(choice)
    if not -layers <= index < layers:
        valid = f"0..{layers - 1} or -{layers}..-1" if layers > 1 else "0 or -1"
        raise TaskConfigError(
            f"task {task!r}: layer={index} is out of range; the encoder's store holds {layers} layer(s) "
            f"({valid}), or use {WEIGHTED!r}."
        )
    return {split: data.layer(index) for split, data in splits.items()}


class LayerMix(torch.nn.Module):
    """[..., L, D] -> [..., D]: softmax-weighted sum of the per-layer normalised layers."""

    def __init__(self, num_layers: int, *, learning_rate: float) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.speed = MIX_STEP / learning_rate  # see MIX_STEP
        self.raw = torch.nn.Parameter(torch.zeros(num_layers))  # uniform weights to start

    def weights(self) -> torch.Tensor:
        return torch.softmax(self.raw * self.speed, dim=0)

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        normalised = torch.nn.functional.layer_norm(layers, layers.shape[-1:])
        return torch.einsum("...ld,l->...d", normalised, self.weights())


class MixedHead(torch.nn.Module):
    """A LayerMix in front of any head that takes [..., D] (extra positional arguments pass through)."""

    def __init__(self, num_layers: int, head: torch.nn.Module, *, learning_rate: float) -> None:
        super().__init__()
        self.mix = LayerMix(num_layers, learning_rate=learning_rate)
        self.head = head

    def forward(self, features: torch.Tensor, *args: Any) -> torch.Tensor:
        return self.head(self.mix(features), *args)


def with_layer_mix(head: torch.nn.Module, num_layers: int | None, *, learning_rate: float) -> torch.nn.Module:
    """`head` itself for single-layer features; MixedHead for features with a layer axis of L.
    `learning_rate` is the head's peak rate, which sets the mix's speed (see MIX_STEP)."""
    return head if num_layers is None else MixedHead(num_layers, head, learning_rate=learning_rate)


def layers_of(features: np.ndarray | torch.Tensor) -> int | None:
    """L of pooled vectors [N, L, D] or a clip's frames [T, L, D]; None for [N, D] and [T, D]."""
    return int(features.shape[-2]) if features.ndim == 3 else None


def learned_weights(module: torch.nn.Module) -> list[float] | None:
    """The softmax weights of the module's LayerMix, rounded for results.json; None without one."""
    for part in module.modules():
        if isinstance(part, LayerMix):
            return [round(float(w), 4) for w in part.weights().detach().cpu()]
    return None


def mean_layer_weights(folds: list[dict[str, Any]]) -> list[float] | None:
    """The mean of the folds' (and seeds') learned layer weights; None when no fold learned any."""
    weights = [f["layer_weights"] for f in folds if f.get("layer_weights")]
    if not weights:
        return None
    return [round(float(w), 4) for w in np.mean(np.asarray(weights, dtype=np.float64), axis=0)]
