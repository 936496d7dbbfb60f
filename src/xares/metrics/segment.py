"""Metrics of frame-level tasks (sound event detection, note activity): segment F1 and frame mAP.

Segment F1 follows the published X-ARES definition, so scores stay comparable:

1. predictions are binarised at sigmoid(logit) > 0.5, i.e. logit > 0;
2. predictions and targets are max-pooled over time, per clip, in non-overlapping windows of
   ceil(segment_length_in_s / (hop_size_in_ms / 1000)) frames; an incomplete final window is dropped;
3. all (clip, segment) rows are stacked into one rows x classes indicator matrix;
4. scikit-learn's f1_score with the requested average and zero_division=0 (a class with no positive in
   truth or prediction scores 0 under "macro", as under upstream's default warning behaviour), computed
   from the counts here with the same float result. With a
   single class, macro and micro are both that class's F1 (upstream's call would treat the one column
   as binary labels and score the negatives too).

One choice upstream leaves open: a clip shorter than one window would contribute no row at all, and a
split of such clips could not be scored. Here such a clip is kept as a single segment (max over all of
its frames), so every clip always counts at least once; `keep_short_clips=False` drops it, as upstream
does (protocol xares-0.1.3). Clips of at least one window are pooled exactly as upstream.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any, Literal

import numpy as np

from xares.metrics.base import Arrays, Kind, Metric
from xares.metrics.classification import mean_average_precision

Average = Literal["macro", "micro"]

# Ratios such as 0.3 s / 0.1 s evaluate to 2.9999999999999996 or 3.0000000000000004 in floating point;
# a ratio this close to an integer is that integer, so float error never adds or drops a frame.
_RATIO_TOLERANCE = 1e-9


def segment_window(*, hop_size_in_ms: float, segment_length_in_s: float) -> int:
    """Frames per segment: ceil(segment length / hop), e.g. 25 for 1 s at 40 ms, 3 for 0.1 s at 40 ms."""
    if not (hop_size_in_ms and hop_size_in_ms > 0):
        raise ValueError(f"hop_size_in_ms must be a positive number of milliseconds, got {hop_size_in_ms!r}")
    if not (segment_length_in_s and segment_length_in_s > 0):
        raise ValueError(
            f"segment_length_in_s must be a positive number of seconds, got {segment_length_in_s!r}"
        )
    ratio = segment_length_in_s / (hop_size_in_ms / 1000.0)
    nearest = round(ratio)
    if abs(ratio - nearest) < _RATIO_TOLERANCE:
        return max(1, int(nearest))
    return max(1, math.ceil(ratio))


def pool_segments(frames: np.ndarray, window: int, keep_short: bool = True) -> np.ndarray:
    """Max over non-overlapping windows of `window` frames: [T, C] -> [max(1, T // window), C].

    The incomplete final window is dropped, as upstream does; a clip shorter than one window becomes one
    segment, or none without `keep_short` (see the module docstring).
    """
    count = frames.shape[0] // window
    if count == 0:
        return frames.max(axis=0, keepdims=True) if keep_short else frames[:0]
    return frames[: count * window].reshape(count, window, frames.shape[1]).max(axis=1)


def _check_pairs(outputs: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> None:
    if len(outputs) != len(targets):
        raise ValueError(f"got frame outputs of {len(outputs)} clips but targets of {len(targets)} clips")
    if len(outputs) == 0:
        raise ValueError("frame metrics need at least one clip")
    classes = None
    for index, (output, target) in enumerate(zip(outputs, targets, strict=True)):
        if output.ndim != 2 or output.shape != target.shape or output.shape[0] < 1:
            raise ValueError(
                f"clip {index}: frame outputs {output.shape} and targets {target.shape} must both be "
                "[T, C] with the same T >= 1 and C; pad or trim the targets to the clip's frames first."
            )
        if classes is not None and output.shape[1] != classes:
            raise ValueError(f"clip {index} has {output.shape[1]} classes, the clips before it {classes}")
        classes = output.shape[1]


def _pooled(
    outputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    hop_size_in_ms: float,
    segment_length_in_s: float,
    keep_short_clips: bool = True,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per clip, the segment x class truth and prediction (bool): targets > 0.5, logits > 0, max-pooled."""
    _check_pairs(outputs, targets)
    window = segment_window(hop_size_in_ms=hop_size_in_ms, segment_length_in_s=segment_length_in_s)
    truth = [pool_segments(np.asarray(t) > 0.5, window, keep_short_clips) for t in targets]
    predicted = [pool_segments(np.asarray(o) > 0.0, window, keep_short_clips) for o in outputs]
    return truth, predicted


def segment_indicators(
    frame_logits_per_clip: Sequence[np.ndarray],
    frame_targets_per_clip: Sequence[np.ndarray],
    *,
    hop_size_in_ms: float,
    segment_length_in_s: float,
    keep_short_clips: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The stacked (clip, segment) x class indicator matrices (truth, prediction) that F1 is taken on."""
    truth, predicted = _pooled(
        frame_logits_per_clip, frame_targets_per_clip, hop_size_in_ms, segment_length_in_s, keep_short_clips
    )
    return np.concatenate(truth).astype(np.int8), np.concatenate(predicted).astype(np.int8)


def segment_f1(
    frame_logits_per_clip: Sequence[np.ndarray],
    frame_targets_per_clip: Sequence[np.ndarray],
    *,
    hop_size_in_ms: float,
    segment_length_in_s: float,
    average: Average,
    keep_short_clips: bool = True,
) -> float:
    """Segment-based F1 of frame logits [T_i, C] against 0/1 frame targets [T_i, C], clip by clip.

    The value is scikit-learn's f1_score(average=..., zero_division=0) on the stacked indicators, to the
    bit: per class 2 tp / (2 tp + fp + fn) of integer counts (one division, 0 without positives), and
    their mean; computed here because importing scikit-learn costs 1.3 s in every probe process.
    """
    if average not in ("macro", "micro"):
        raise ValueError(f"average must be 'macro' or 'micro', got {average!r}")
    counts = segment_counts(
        frame_logits_per_clip,
        frame_targets_per_clip,
        hop_size_in_ms=hop_size_in_ms,
        segment_length_in_s=segment_length_in_s,
        keep_short_clips=keep_short_clips,
    )["counts"].sum(0)  # [C, 3]
    tp, fp, fn = counts[:, 0], counts[:, 1], counts[:, 2]
    if average == "micro" and len(counts) > 1:
        return float(f1_from_counts(tp.sum(), fp.sum(), fn.sum()))
    # one class is its own F1 under either average (scikit-learn would read one column as binary
    # labels and, under "micro", score the negatives too)
    return float(f1_from_counts(tp, fp, fn).mean())


segment_f1_macro = partial(segment_f1, average="macro")  # "segmentf1_macro" (DESED: 1 s segments)
segment_f1_micro = partial(segment_f1, average="micro")  # "segmentf1_micro" (MAESTRO: 0.1 s segments)


def frame_average_precision(
    frame_logits_per_clip: Sequence[np.ndarray], frame_targets_per_clip: Sequence[np.ndarray]
) -> float | None:
    """Macro AP over classes on all frames of all clips (upstream's extra "frame_mAP").

    Threshold-free, so it tells a head that ranks frames well but sits on the wrong side of 0.5 from one
    that has learnt nothing. Classes without a positive frame are left out (see mean_average_precision);
    None when no frame of any class is positive.
    """
    _check_pairs(frame_logits_per_clip, frame_targets_per_clip)
    targets = np.concatenate([np.asarray(t) > 0.5 for t in frame_targets_per_clip]).astype(np.int8)
    if not targets.any():
        return None
    outputs = np.concatenate([np.asarray(o, dtype=np.float32) for o in frame_logits_per_clip])
    return mean_average_precision(outputs, targets)


# ----- per-clip form ----------------------------------------------------------------------------------
def segment_counts(
    outputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    *,
    hop_size_in_ms: float,
    segment_length_in_s: float,
    keep_short_clips: bool = True,
) -> Arrays:
    """Per clip and class, the segment-level (true positives, false positives, false negatives):
    counts [N, C, 3]. Summed over clips they give segment F1 exactly, macro or micro."""
    counts = [
        np.stack([(truth & predicted).sum(0), (~truth & predicted).sum(0), (truth & ~predicted).sum(0)], -1)
        for truth, predicted in zip(
            *_pooled(outputs, targets, hop_size_in_ms, segment_length_in_s, keep_short_clips), strict=True
        )
    ]
    return {"counts": np.stack(counts).astype(np.int32)}


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 = 2 tp / (2 tp + fp + fn), 0 where a class has no positive in truth or prediction."""
    denominator = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, 0.0)


def weighted_segment_f1(arrays: Arrays, weights: np.ndarray, average: Average) -> np.ndarray:
    """Segment F1 of the weighted sums of the clips' counts; one class is its own F1 either way."""
    counts = arrays["counts"]
    sums = np.einsum("bn,snck->bsck", weights.astype(np.float64), counts.astype(np.float64))
    tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
    if average == "micro" and counts.shape[2] > 1:
        tp, fp, fn = tp.sum(-1), fp.sum(-1), fn.sum(-1)
    f1 = f1_from_counts(tp, fp, fn)
    return f1 if f1.ndim == 2 else f1.mean(-1)


F1_MACRO = Kind("f1_macro", partial(weighted_segment_f1, average="macro"))  # counts [S, N, C, 3] int
F1_MICRO = Kind("f1_micro", partial(weighted_segment_f1, average="micro"))

METRICS = (  # both take hop_size_in_ms and segment_length_in_s (and keep_short_clips)
    Metric("segmentf1_macro", segment_f1_macro, kind=F1_MACRO, record=segment_counts),
    Metric("segmentf1_micro", segment_f1_micro, kind=F1_MICRO, record=segment_counts),
)
KINDS = (F1_MACRO, F1_MICRO)


def frame_scores(
    outputs: Sequence[np.ndarray], targets: Sequence[np.ndarray], *, metric: str, **segment_args: Any
) -> dict[str, tuple[str, Arrays]]:
    """The per-clip scores of a frame task: both segment F1 averages from one set of counts (segment_args:
    hop_size_in_ms, segment_length_in_s), and the headline ("mlp_score") when it is one of them (another
    headline metric gets no interval)."""
    counts = segment_counts(outputs, targets, **segment_args)
    scores = {m.name: (m.kind.name, dict(counts)) for m in METRICS if m.kind is not None}
    if metric in scores:
        scores["mlp_score"] = scores[metric]
    return scores
