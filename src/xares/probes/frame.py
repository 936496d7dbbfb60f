"""Probe of frame-level tasks (sound event detection like DESED, note activity like MAESTRO).

The head is the X-ARES "MLP", LayerNorm + Linear, applied to every stored frame on its own and trained
with BCEWithLogitsLoss through xares.probes.training (the best validation epoch of the task metric kept).

Targets. A frame task's label_processor maps a clip's JSON to a list of events
`[(onset_s, offset_s, class_index), ...]`, so each task file adapts its own JSON (DESED's onset/offset/
label, MAESTRO's start/end/note) and fixing one never forces a re-encode. Events are rasterised at the
encoder's hop: frame i covers [i * hop, (i + 1) * hop) and is active for a class when an event of that
class overlaps it, i.e. frames floor(onset / hop) .. ceil(offset / hop) - 1. (Upstream starts at
ceil(onset / hop), which drops the partly covered first frame and makes an event shorter than a hop
vanish entirely; overlap is what "frame i covers [i * hop, (i + 1) * hop)" means.)

The label grid has ceil(duration / hop) frames, where duration is the clip's stored number of samples
divided by the encoder's sampling rate (the store keeps samples at that rate). It is then padded with
zeros or trimmed to the clip's stored frame count, as upstream does: encoders legitimately differ from
the ideal count by a frame or two at the edges. A difference of more than one metric segment (e.g.
100 frames for 1 s segments at a 10 ms hop) is not an edge effect but a declared hop_size_in_ms that
does not match the encoder's real frame rate; the labels are then misaligned in time, so it is logged
as a warning, once per split, with the number of clips affected.

Batches. A batch is `batch_size_train` clips. Because the head sees one frame at a time, the batch is
the clips' real frames back to back, and the loss is the mean over those frames and classes. That is
exactly padding the batch and masking the padding out of the loss, without materialising the padding.
Upstream padded and averaged over the padding too, which trains on zero-embedding frames labelled
"nothing" and weights every clip in a batch by the length of the batch's longest clip; with DESED's
equal-length clips the two agree, with MAESTRO's pieces of very different lengths they do not.
`--protocol xares-0.1.3` trains with upstream's loss (`loss_over_padding`) and scores segment F1 without
clips shorter than one segment, as upstream does.

A split's frames up to IN_MEMORY_BYTES are converted to float32 once; a larger split stays in the
store's memmap, a view per clip converted one batch at a time, so a task like MAESTRO, whose frames can
outgrow memory, trains in the same process as a small one, with no loader machinery.

Each fold keeps its per-clip test data under "per_clip" (xares.stats.frame_record): every test clip's
segment (true positive, false positive, false negative) counts per class, from which segment F1
(macro and micro, headline included) is recomputed exactly under any bootstrap draw of clips.
frame_mAP gets no interval: it ranks every frame of every clip at once, so no per-clip summary
reproduces it, and keeping every test frame's outputs would make results.json grow with the audio.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xares.errors import LabelError, TaskConfigError
from xares.metrics import get_metric
from xares.metrics.segment import frame_average_precision, segment_f1, segment_window
from xares.probes import ProbeContext, ProbeResult, split_arrangements
from xares.probes.layers import layers_of, learned_weights, with_layer_mix
from xares.probes.linear import LinearHead, ProbeOutcome
from xares.probes.training import Schedule, fit, task_schedule
from xares.stats import clip_keys, frame_record
from xares.store import SplitEmbeddings
from xares.taskconfig import TaskConfig

logger = logging.getLogger(__name__)

Event = tuple[float, float, int]

SECONDARY_METRICS = ("segmentf1_macro", "segmentf1_micro", "frame_mAP")
DEFAULT_SEGMENT_LENGTH_IN_S = 1.0  # DESED's; used when a frame task's metric_args name none
PREDICT_FRAMES = 65536  # frames per forward pass at evaluation
IN_MEMORY_BYTES = 1 << 29  # a split (or validation set) of float32 frames up to 512 MiB is held in memory
_TOLERANCE = 1e-6  # in frames: an overlap this short is float error, not an event


# ----- targets ----------------------------------------------------------------------------------------
def label_frame_count(num_samples: int, *, sampling_rate: float, hop_size_in_ms: float) -> int:
    """ceil(duration / hop): the frames the clip's labels span, e.g. 1000 for 10 s at 10 ms."""
    ratio = num_samples / sampling_rate / (hop_size_in_ms / 1000.0)
    return max(1, math.ceil(ratio - _TOLERANCE))


def events_to_frames(
    events: Sequence[Event], *, num_frames: int, hop_size_in_ms: float, num_classes: int
) -> np.ndarray:
    """Rasterise events [(onset_s, offset_s, class_index), ...] into 0/1 targets [num_frames, num_classes].

    Frame i covers [i * hop, (i + 1) * hop) and is active for every class with an event overlapping it.
    Parts of events outside [0, num_frames * hop) are cut off; a zero-length event marks nothing. A
    malformed event raises ValueError saying which one and why.
    """
    hop = hop_size_in_ms / 1000.0
    targets = np.zeros((num_frames, num_classes), dtype=np.float32)
    for event in events:
        try:
            onset, offset, index = event
        except (TypeError, ValueError):
            raise ValueError(
                f"event {event!r} is not (onset_s, offset_s, class_index); the label_processor of a frame "
                "task must return a list of such triples."
            ) from None
        if (
            isinstance(index, bool)
            or not isinstance(index, (int, np.integer))
            or not 0 <= index < num_classes
        ):
            raise ValueError(
                f"event {event!r}: class index {index!r} is not an integer in 0..{num_classes - 1}"
            )
        onset, offset = float(onset), float(offset)
        if not (math.isfinite(onset) and math.isfinite(offset)) or offset < onset:
            raise ValueError(f"event {event!r}: onset and offset must be finite seconds with onset <= offset")
        first = max(0, math.floor(onset / hop + _TOLERANCE))
        last = min(num_frames, math.ceil(offset / hop - _TOLERANCE))
        if last > first:
            targets[first:last, index] = 1.0
    return targets


def fit_length(targets: np.ndarray, num_frames: int) -> np.ndarray:
    """Pad with inactive frames or trim at the end, so the targets have the clip's frame count."""
    if targets.shape[0] >= num_frames:
        return targets[:num_frames]
    return np.pad(targets, ((0, num_frames - targets.shape[0]), (0, 0)))


def make_frame_targets(
    config: TaskConfig,
    split: Any,
    data: SplitEmbeddings,
    *,
    hop_size_in_ms: float,
    sampling_rate: float,
    tolerance_frames: int,
) -> list[np.ndarray]:
    """Each clip's 0/1 targets [T_i, C] (uint8), T_i its stored frame count; a failure names the sample."""
    if config.label_processor is None:
        raise TaskConfigError(
            f"task {config.name!r}: a frame task needs a label_processor that returns the clip's events "
            "as [(onset_s, offset_s, class_index), ...]."
        )
    if not (sampling_rate and sampling_rate > 0):
        raise TaskConfigError(
            f"task {config.name!r}: a frame task turns clip durations into label frames and needs the "
            f"encoder's sampling_rate (a positive number of Hz); got {sampling_rate!r}."
        )
    rate = float(sampling_rate)
    num_classes = int(config.output_dim)
    crop_seconds = float(config.crop_length or 0.0)
    targets: list[np.ndarray] = []
    counts: list[tuple[int, int]] = []  # (label frames, clip frames) per clip
    for index, record in enumerate(data.samples):
        where = f"task {config.name!r}, split {split!r}, shard {record['shard']}, sample {record['key']!r}"
        try:
            events = config.label_processor(record["meta"])
        except LabelError as exc:
            raise LabelError(f"{where}: {exc}") from exc
        except Exception as exc:
            raise LabelError(
                f"{where}: the label_processor could not read {record['meta']!r} ({type(exc).__name__}: "
                f"{exc}). Fix the sample's JSON or the task's label_processor."
            ) from exc
        # a crop's events are relative to the crop's start (crops are cut back to back from 0)
        shift = record.get("crop", 0) * crop_seconds
        try:
            events = [(on - shift, off - shift, cls) for on, off, cls in events]
            frames = label_frame_count(
                record["num_samples"], sampling_rate=rate, hop_size_in_ms=hop_size_in_ms
            )
            clip_targets = events_to_frames(
                events, num_frames=frames, hop_size_in_ms=hop_size_in_ms, num_classes=num_classes
            )
        except (TypeError, ValueError) as exc:
            raise LabelError(
                f"{where}: the label_processor returned {events!r}, which is not a list of "
                f"(onset_s, offset_s, class_index) events ({exc})."
            ) from exc
        clip_frames = int(data.offsets[index + 1] - data.offsets[index])
        counts.append((frames, clip_frames))
        targets.append(fit_length(clip_targets, clip_frames).astype(np.uint8))
    gaps = [abs(frames - clip_frames) for frames, clip_frames in counts]
    worst = int(np.argmax(gaps)) if gaps else 0  # the first clip with the largest gap
    mismatched = sum(gap > tolerance_frames for gap in gaps)
    if mismatched:
        logger.warning(
            "task %r, split %r: %d of %d clips have label and encoder frame counts more than one segment "
            "(%d frames) apart, worst %r with %d label frames at hop %g ms but %d encoder frames. Their "
            "labels were padded or trimmed, and are misaligned in time if the encoder's hop_size_in_ms "
            "is not its real frame period.",
            config.name,
            split,
            mismatched,
            len(data.samples),
            tolerance_frames,
            data.samples[worst]["key"],
            counts[worst][0],
            hop_size_in_ms,
            counts[worst][1],
        )
    elif any(gaps):
        logger.debug(
            "task %r, split %r: padded or trimmed the labels of %d clips by at most %d frames",
            config.name,
            split,
            sum(gap > 0 for gap in gaps),
            max(gaps),
        )
    return targets


# ----- training ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrameProbeSettings(Schedule):
    pos_weight: float | list[float] | None = None
    # protocol xares-0.1.3: the loss also averages over the batch padding (zero frames, labelled inactive)
    loss_over_padding: bool = False


@dataclass
class FrameClips:
    """Clips of one or more splits: frames [T_i, D] (views into the store) with 0/1 targets [T_i, C]."""

    frames: list[np.ndarray]
    targets: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.frames)


Evaluate = Callable[[list[np.ndarray], list[np.ndarray]], float]  # (logits per clip, targets per clip)


def load_clips(data: SplitEmbeddings, targets: list[np.ndarray]) -> FrameClips:
    """Each clip's frames beside its targets: views of the split converted to float32 once when it
    fits in IN_MEMORY_BYTES (else every epoch would convert every batch again), else zero-copy views
    into the split's memmap, converted one batch at a time."""
    if data.frames.size * 4 > IN_MEMORY_BYTES:
        return FrameClips(frames=[data.clip_frames(i) for i in range(len(data))], targets=targets)
    frames = np.ascontiguousarray(data.frames, dtype=np.float32)
    bounds = data.offsets.tolist()
    return FrameClips(
        frames=[frames[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)], targets=targets
    )


def stack_frames(frames: Sequence[np.ndarray]) -> torch.Tensor:
    """The frames of several clips back to back as one float32 tensor [sum T_i, D]."""
    return torch.from_numpy(np.concatenate([np.asarray(f, dtype=np.float32) for f in frames]))


def chunk_clips(frames: Sequence[np.ndarray]) -> Iterator[tuple[torch.Tensor, np.ndarray]]:
    """The clips in order, in chunks of whole clips of at most PREDICT_FRAMES frames (a longer clip is a
    chunk of its own): each chunk's frames stacked into one tensor, and where each clip's rows end but
    the last. Made one at a time, so only one chunk is in memory."""
    start = 0
    while start < len(frames):
        stop, total = start, 0
        while stop < len(frames) and (stop == start or total + frames[stop].shape[0] <= PREDICT_FRAMES):
            total += frames[stop].shape[0]
            stop += 1
        yield stack_frames(frames[start:stop]), np.cumsum([f.shape[0] for f in frames[start:stop]])[:-1]
        start = stop


def concat_clips(parts: Sequence[FrameClips]) -> FrameClips:
    return FrameClips(
        frames=[f for part in parts for f in part.frames], targets=[t for part in parts for t in part.targets]
    )


@torch.no_grad()
def predict_chunks(
    head: torch.nn.Module, chunks: Iterable[tuple[torch.Tensor, np.ndarray]]
) -> list[np.ndarray]:
    """Logits [T_i, C] of every clip of the chunks (chunk_clips), in order."""
    head.eval()
    outputs: list[np.ndarray] = []
    for features, bounds in chunks:
        outputs.extend(np.split(head(features).numpy(), bounds))
    return outputs


def _pos_weight(value: Any, num_classes: int) -> torch.Tensor | None:
    if value is None:
        return None
    weight = torch.as_tensor(value, dtype=torch.float32)
    if weight.dim() > 1 or (weight.dim() == 1 and weight.shape[0] not in (1, num_classes)):
        raise TaskConfigError(
            f"metric_args['pos_weight'] must be one number or {num_classes} numbers (one per class); "
            f"got {value!r}."
        )
    if not bool(torch.all(weight > 0)):
        raise TaskConfigError(f"metric_args['pos_weight'] must be positive, got {value!r}.")
    return weight


def loss_over_padding(
    summed_loss: torch.nn.Module,
    head: torch.nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    lengths: list[int],
) -> torch.Tensor:
    """Upstream's frame loss (protocol xares-0.1.3): the mean over the batch padded to its longest clip,
    the padding being zero frames labelled inactive. `features`/`labels` hold the real frames back to back;
    the padding's loss is one zero frame's, counted once per padded frame, so nothing is materialised."""
    padding = max(lengths) * len(lengths) - sum(lengths)
    blank = summed_loss(head(torch.zeros_like(features[:1])), torch.zeros_like(labels[:1]))
    return (summed_loss(head(features), labels) + padding * blank) / (
        labels.shape[1] * (sum(lengths) + padding)
    )


def train_frame_probe(
    train: FrameClips,
    valid: FrameClips | None,
    test: FrameClips,
    *,
    output_dim: int,
    evaluate: Evaluate,
    better: Callable[[float, float | None], bool],
    settings: FrameProbeSettings,
    on_epoch: Callable[[], None] | None = None,
) -> ProbeOutcome:
    """Train on `train`, keep the best epoch on `valid` (the last without one), score `test` once.
    `evaluate(logits_per_clip, targets_per_clip)` is the task metric, `better` its Metric.better."""
    first = train.frames[0]  # [T, D], or [T, L, D] for a learned mix of an encoder's layers
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=_pos_weight(settings.pos_weight, output_dim))
    summed_loss = torch.nn.BCEWithLogitsLoss(pos_weight=loss_fn.pos_weight, reduction="sum")

    def build() -> torch.nn.Module:
        head = LinearHead(first.shape[-1], output_dim)
        return with_layer_mix(head, layers_of(first), learning_rate=settings.learning_rate)

    train_targets = [t.astype(np.float32) for t in train.targets]  # converted once, not every epoch

    def train_epoch(head: torch.nn.Module, optimiser, generator: torch.Generator) -> None:
        order = torch.randperm(len(train), generator=generator).tolist()
        for start in range(0, len(order), settings.batch_size):
            index = order[start : start + settings.batch_size]
            features = stack_frames([train.frames[i] for i in index])
            labels = torch.from_numpy(np.concatenate([train_targets[i] for i in index]))
            optimiser.zero_grad(set_to_none=True)
            if settings.loss_over_padding:
                lengths = [train.frames[i].shape[0] for i in index]
                loss = loss_over_padding(summed_loss, head, features, labels, lengths)
            else:
                loss = loss_fn(head(features), labels)  # mean over the batch's real frames and classes
            loss.backward()
            optimiser.step()

    # The validation clips are the same every epoch: stacked once when they fit in memory.
    valid_chunks = None
    if valid is not None and sum(f.size for f in valid.frames) * 4 <= IN_MEMORY_BYTES:
        valid_chunks = list(chunk_clips(valid.frames))

    def validate(head: torch.nn.Module) -> float:
        chunks = valid_chunks if valid_chunks is not None else chunk_clips(valid.frames)
        return evaluate(predict_chunks(head, chunks), valid.targets)

    fitted = fit(
        build,
        train_epoch,
        validate if valid is not None else None,
        schedule=settings,
        better=better,
        optimiser="torch",
        on_epoch=on_epoch,
    )
    outputs = predict_chunks(fitted.model, chunk_clips(test.frames))
    return ProbeOutcome(
        score=evaluate(outputs, test.targets),
        best_epoch=fitted.best_epoch,
        valid_score=fitted.valid_score,
        test_outputs=outputs,
        layer_weights=learned_weights(fitted.model),
    )


# ----- the probe --------------------------------------------------------------------------------------
def secondary_metrics(
    outputs: list[np.ndarray], targets: list[np.ndarray], **segment_args: Any
) -> dict[str, float]:
    """Segment F1 both ways and frame-level mAP, whatever the task's headline metric is."""
    scores = {
        f"segmentf1_{average}": segment_f1(outputs, targets, **segment_args, average=average)
        for average in ("macro", "micro")
    }
    frame_map = frame_average_precision(outputs, targets)
    if frame_map is not None:
        scores["frame_mAP"] = frame_map
    return scores


def run_frame_probe(
    config: TaskConfig, splits: dict[Any, SplitEmbeddings], context: ProbeContext
) -> ProbeResult:
    """Train and score the per-frame linear head on every train/test arrangement of a frame task."""
    hop_size_in_ms = context.hop_size_in_ms
    if config.criterion != "BCEWithLogitsLoss":
        raise TaskConfigError(
            f"task {config.name!r}: frame tasks are multi-label per frame and train with "
            f"criterion='BCEWithLogitsLoss'; got {config.criterion!r}."
        )
    if not config.output_dim or config.output_dim < 1:
        raise TaskConfigError(f"task {config.name!r}: a frame task needs output_dim = its number of classes.")
    if not (hop_size_in_ms and hop_size_in_ms > 0):
        raise TaskConfigError(
            f"task {config.name!r}: hop_size_in_ms must be positive, got {hop_size_in_ms!r}."
        )
    as_published = context.protocol == "xares-0.1.3"  # the public implementation's own choices
    segment = {
        "hop_size_in_ms": hop_size_in_ms,
        "segment_length_in_s": float(
            config.metric_args.get("segment_length_in_s") or DEFAULT_SEGMENT_LENGTH_IN_S
        ),
        "keep_short_clips": not as_published,
    }
    window = segment_window(hop_size_in_ms=hop_size_in_ms, segment_length_in_s=segment["segment_length_in_s"])
    metric = get_metric(config.metric)

    def evaluate(outputs: list[np.ndarray], targets: list[np.ndarray]) -> float:
        """The task metric on per-clip frames: segment F1 with its arguments, any other on all frames."""
        if metric.name.startswith("segmentf1"):
            return metric.compute(outputs, targets, **segment)
        return metric.compute(np.concatenate(outputs), np.concatenate(targets))

    settings = FrameProbeSettings(
        **task_schedule(config, context.seed),
        pos_weight=config.metric_args.get("pos_weight"),
        loss_over_padding=as_published,
    )
    _pos_weight(settings.pos_weight, int(config.output_dim))  # refuse a bad value before any work

    clips = {
        split: load_clips(
            data,
            make_frame_targets(
                config,
                split,
                data,
                hop_size_in_ms=hop_size_in_ms,
                sampling_rate=context.sampling_rate,
                tolerance_frames=window,
            ),
        )
        for split, data in splits.items()
    }
    folds = []
    for label, train_splits, valid_split, test_split in split_arrangements(config):
        train = concat_clips([clips[s] for s in train_splits])
        test = clips[test_split]
        fold: dict[str, Any] = {"name": label, "num_train": len(train), "num_test": len(test)}
        if config.do_mlp:
            outcome = train_frame_probe(
                train,
                clips[valid_split] if valid_split is not None else None,
                test,
                output_dim=int(config.output_dim),
                evaluate=evaluate,
                better=metric.better,
                settings=settings,
                on_epoch=context.on_epoch,
            )
            fold.update(outcome.fold_fields())
            fold.update(secondary_metrics(outcome.test_outputs, test.targets, **segment))
            fold["per_clip"] = frame_record(
                clip_keys(splits[test_split].samples),
                outcome.test_outputs,
                test.targets,
                metric=config.metric,
                **segment,
            )
            fold["per_clip"].class_names = list(config.class_names) if config.class_names else None
        folds.append(fold)
        logger.info(
            "%s %s: %s", config.name, label, {k: v for k, v in fold.items() if k not in ("name", "per_clip")}
        )
    return ProbeResult.from_folds(folds, SECONDARY_METRICS)
