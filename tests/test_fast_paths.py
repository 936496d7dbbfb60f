"""The fast paths that replace a slow import are the same computation, to the bit.

- PerTensorAdam: torch.optim.Adam's default CPU update without torch.optim (whose first param group
  imports torch._dynamo, 1.3-4.7 s);
- binary_average_precision / mean_average_precision and segment_f1: scikit-learn's
  average_precision_score and f1_score without importing scikit-learn (1.3 s).

Every comparison is exact (==), not approximate: the offline suite is held bit for bit against
tests/golden/, and these are the scores it holds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xares.metrics.classification import binary_average_precision, mean_average_precision
from xares.metrics.segment import segment_f1
from xares.probes.linear import LinearHead
from xares.probes.training import PerTensorAdam, make_optimiser

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _trajectory(make, steps: int, seed: int, shape: tuple[int, int]) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    head = LinearHead(shape[1], 3)
    optimiser = make(list(head.parameters()))
    generator = torch.Generator().manual_seed(seed + 1)
    for step in range(steps):
        features = torch.randn(shape, generator=generator)
        target = torch.rand((shape[0], 3), generator=generator)
        for group in optimiser.param_groups:
            group["lr"] = 1e-2 * (1.0 - step / (2 * steps))  # the schedule changes lr between steps
        optimiser.zero_grad(set_to_none=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(features), target)
        loss.backward()
        optimiser.step()
    return [p.detach().clone() for p in head.parameters()]


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1), steps=st.integers(1, 30), rows=st.integers(1, 40), dim=st.integers(1, 20)
)
def test_per_tensor_adam_is_torch_optim_adam_bit_for_bit(seed, steps, rows, dim):
    ours = _trajectory(lambda p: PerTensorAdam(p, lr=1e-2), steps, seed, (rows, dim))
    theirs = _trajectory(lambda p: torch.optim.Adam(p, lr=1e-2), steps, seed, (rows, dim))
    for mine, reference in zip(ours, theirs, strict=True):
        assert torch.equal(mine, reference)


def test_per_tensor_adam_skips_parameters_without_a_gradient_as_torch_does():
    torch.manual_seed(0)
    used, unused = torch.nn.Parameter(torch.randn(4)), torch.nn.Parameter(torch.randn(4))
    before = unused.detach().clone()
    adam = make_optimiser(torch.nn.ParameterList([used, unused]), 1e-2, "torch")
    assert isinstance(adam, PerTensorAdam)
    (used**2).sum().backward()
    adam.step()
    assert torch.equal(unused, before) and not torch.equal(used.detach(), before)


def test_the_torch_head_optimiser_does_not_import_dynamo():
    import subprocess
    import sys

    code = (
        "import sys, torch; from xares.probes.training import make_optimiser; "
        "m = torch.nn.Linear(3, 2); o = make_optimiser(m, 1e-3, 'torch'); "
        "m(torch.ones(1, 3)).sum().backward(); o.step(); print('torch._dynamo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


scores_strategy = st.sampled_from([np.float32, np.float64])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 300),
    levels=st.sampled_from([2, 5, 50, 0]),  # few distinct scores: many ties; 0: continuous
    dtype=scores_strategy,
)
def test_binary_average_precision_is_scikit_learns_to_the_bit(seed, n, levels, dtype):
    rng = np.random.default_rng(seed)
    positive = (rng.random(n) < rng.uniform(0.05, 0.9)).astype(np.int8)
    positive[rng.integers(n)] = 1  # at least one positive, as mean_average_precision guarantees
    raw = rng.standard_normal(n) + positive * rng.uniform(0, 2)
    scores = (np.round(raw * levels / 4) if levels else raw).astype(dtype)
    expected = sklearn_metrics.average_precision_score(positive, scores)
    assert binary_average_precision(positive, scores) == expected


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 200), classes=st.integers(1, 12))
def test_mean_average_precision_is_scikit_learns_macro_ap_to_the_bit(seed, n, classes):
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, classes)) < 0.3).astype(np.int8)
    targets[0, 0] = 1
    outputs = (rng.standard_normal((n, classes)) + targets).astype(np.float32)
    present = targets.sum(0) > 0
    expected = float(
        sklearn_metrics.average_precision_score(targets[:, present], outputs[:, present], average="macro")
    )
    assert mean_average_precision(outputs, targets) == expected


def test_average_precision_refuses_non_finite_scores():
    with pytest.raises(ValueError, match="finite"):
        binary_average_precision(np.array([1, 0]), np.array([np.nan, 0.0]))


def _sklearn_segment_f1(outputs, targets, *, window: int, average: str) -> float:
    """The published definition, through scikit-learn: pooled indicators, then f1_score."""

    def pool(frames):
        count = frames.shape[0] // window
        if count == 0:
            return frames.max(axis=0, keepdims=True)
        return frames[: count * window].reshape(count, window, frames.shape[1]).max(axis=1)

    truth = np.concatenate([pool(t > 0.5) for t in targets]).astype(np.int8)
    predicted = np.concatenate([pool(o > 0.0) for o in outputs]).astype(np.int8)
    if truth.shape[1] == 1:
        return float(
            sklearn_metrics.f1_score(truth[:, 0], predicted[:, 0], average="binary", zero_division=0)
        )
    return float(sklearn_metrics.f1_score(truth, predicted, average=average, zero_division=0))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    clips=st.integers(1, 12),
    classes=st.integers(1, 8),
    average=st.sampled_from(["macro", "micro"]),
    sparse=st.booleans(),
)
def test_segment_f1_is_scikit_learns_f1_score_to_the_bit(seed, clips, classes, average, sparse):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 60, clips)
    rate = 0.03 if sparse else 0.4  # sparse: classes without any positive (zero_division)
    targets = [(rng.random((t, classes)) < rate).astype(np.float32) for t in lengths]
    outputs = [
        rng.standard_normal((t, classes)).astype(np.float32) - (2.0 if sparse else 0.0) for t in lengths
    ]
    ours = segment_f1(outputs, targets, hop_size_in_ms=100.0, segment_length_in_s=1.0, average=average)
    assert ours == _sklearn_segment_f1(outputs, targets, window=10, average=average)
