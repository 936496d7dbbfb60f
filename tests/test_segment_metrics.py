"""Segment F1 against hand-computed cases and an independent brute-force implementation."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from xares.metrics import get_metric
from xares.metrics.segment import (
    frame_average_precision,
    segment_f1,
    segment_indicators,
    segment_window,
)

POS, NEG = 3.0, -3.0  # logits on either side of the 0.5 threshold


def brute_force_rows(logits, targets, window):
    """Section (f) spelled out with loops: threshold, max over each full window, short clip = one row."""
    truth_rows, pred_rows = [], []
    for clip_logits, clip_targets in zip(logits, targets, strict=True):
        frames, classes = clip_targets.shape
        starts = list(range(0, frames - window + 1, window)) or [0]
        for start in starts:
            stop = min(start + window, frames)
            truth_rows.append(
                [int(any(clip_targets[t, c] > 0.5 for t in range(start, stop))) for c in range(classes)]
            )
            pred_rows.append(
                [
                    int(any(1 / (1 + math.exp(-clip_logits[t, c])) > 0.5 for t in range(start, stop)))
                    for c in range(classes)
                ]
            )
    return np.array(truth_rows), np.array(pred_rows)


def brute_force_f1(truth, pred, average):
    """F1 from explicit counts: per class then averaged (macro), or from pooled counts (micro)."""

    def f1(tp, fp, fn):
        return 0.0 if 2 * tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)

    counts = [
        (
            int(((truth[:, c] == 1) & (pred[:, c] == 1)).sum()),
            int(((truth[:, c] == 0) & (pred[:, c] == 1)).sum()),
            int(((truth[:, c] == 1) & (pred[:, c] == 0)).sum()),
        )
        for c in range(truth.shape[1])
    ]
    if average == "macro":
        return float(np.mean([f1(*c) for c in counts]))
    return f1(*(sum(column) for column in zip(*counts, strict=True)))


def f1(logits, targets, hop_ms, seconds, average):
    return segment_f1(logits, targets, hop_size_in_ms=hop_ms, segment_length_in_s=seconds, average=average)


def test_window_sizes_of_the_published_tasks():
    assert segment_window(hop_size_in_ms=40, segment_length_in_s=1.0) == 25  # DESED at a 40 ms hop
    assert segment_window(hop_size_in_ms=40, segment_length_in_s=0.1) == 3  # MAESTRO at a 40 ms hop
    assert segment_window(hop_size_in_ms=10, segment_length_in_s=1.0) == 100
    assert segment_window(hop_size_in_ms=20, segment_length_in_s=0.1) == 5
    assert segment_window(hop_size_in_ms=15, segment_length_in_s=0.1) == 7  # ceil(6.67)
    # 1.1 / 0.1 is 11.000000000000002 in floating point; that is 11 frames, not 12
    assert segment_window(hop_size_in_ms=100, segment_length_in_s=1.1) == 11
    assert segment_window(hop_size_in_ms=1000, segment_length_in_s=0.1) == 1
    with pytest.raises(ValueError, match="hop_size_in_ms"):
        segment_window(hop_size_in_ms=0, segment_length_in_s=1.0)


def test_hand_computed_case():
    # hop 100 ms, 0.2 s segments -> windows of 2 frames; the 5th frame of clip A is an incomplete window
    clip_a_targets = np.array([[1, 0], [0, 0], [0, 0], [0, 1], [1, 1]], dtype=np.float32)
    clip_a_logits = np.array([[NEG, NEG], [POS, NEG], [POS, NEG], [NEG, NEG], [POS, POS]])
    clip_b_targets = np.array([[0, 1], [0, 1]], dtype=np.float32)
    clip_b_logits = np.array([[NEG, POS], [NEG, NEG]])
    # rows (truth | pred): A0 = [1,0] | [1,0]; A1 = [0,1] | [1,0]; B0 = [0,1] | [0,1]
    # class 0: tp 1, fp 1, fn 0 -> 2/3; class 1: tp 1, fp 0, fn 1 -> 2/3; micro: tp 2, fp 1, fn 1 -> 2/3
    logits, targets = [clip_a_logits, clip_b_logits], [clip_a_targets, clip_b_targets]
    truth, pred = segment_indicators(logits, targets, hop_size_in_ms=100, segment_length_in_s=0.2)
    assert truth.tolist() == [[1, 0], [0, 1], [0, 1]] and pred.tolist() == [[1, 0], [1, 0], [0, 1]]
    assert f1(logits, targets, 100, 0.2, "macro") == pytest.approx(2 / 3)
    assert f1(logits, targets, 100, 0.2, "micro") == pytest.approx(2 / 3)


def test_micro_and_macro_differ_as_they_should():
    # class 0 frequent and right, class 1 rare and missed: macro halves, micro barely moves
    targets = np.zeros((40, 2), dtype=np.float32)
    targets[:, 0] = 1
    targets[0, 1] = 1
    logits = np.full((40, 2), NEG)
    logits[:, 0] = POS
    assert f1([logits], [targets], 100, 0.1, "macro") == pytest.approx((1.0 + 0.0) / 2)
    assert f1([logits], [targets], 100, 0.1, "micro") == pytest.approx(2 * 40 / (2 * 40 + 0 + 1))


def test_a_class_without_positives_scores_zero_under_macro():
    targets = np.zeros((10, 3), dtype=np.float32)
    targets[:5, 0] = 1
    targets[5:, 1] = 1
    logits = np.where(targets > 0, POS, NEG)  # perfect on classes 0 and 1; class 2 never occurs
    assert f1([logits], [targets], 100, 0.1, "macro") == pytest.approx(2 / 3)
    assert f1([logits], [targets], 100, 0.1, "micro") == pytest.approx(1.0)
    # the same as scikit-learn on the indicator rows, with zero_division=0
    assert f1([logits], [targets], 100, 0.1, "macro") == pytest.approx(
        f1_score(targets.astype(int), (logits > 0).astype(int), average="macro", zero_division=0)
    )


def test_a_clip_without_events_counts_its_false_alarms():
    hit = np.ones((10, 1), dtype=np.float32)
    silent = np.zeros((10, 1), dtype=np.float32)
    # 1 s segments at 100 ms: one row per clip; the silent clip's positive frame is a false positive
    false_alarm = np.full((10, 1), NEG)
    false_alarm[7, 0] = POS
    assert f1([np.full((10, 1), POS), false_alarm], [hit, silent], 100, 1.0, "micro") == pytest.approx(2 / 3)
    assert f1([np.full((10, 1), POS), np.full((10, 1), NEG)], [hit, silent], 100, 1.0, "micro") == 1.0
    # only silent clips and silent predictions: no positive anywhere, F1 is 0 (zero_division=0)
    assert f1([np.full((10, 1), NEG)], [silent], 100, 1.0, "macro") == 0.0


def test_a_clip_shorter_than_one_segment_is_one_segment():
    # 25-frame windows (40 ms, 1 s); a 10-frame clip still counts, as one row pooled over all its frames
    short_targets = np.zeros((10, 2), dtype=np.float32)
    short_targets[9, 1] = 1
    short_logits = np.full((10, 2), NEG)
    short_logits[0, 1] = POS  # same class, different frame: still a hit at segment level
    truth, pred = segment_indicators(
        [short_logits], [short_targets], hop_size_in_ms=40, segment_length_in_s=1.0
    )
    assert truth.tolist() == [[0, 1]] and pred.tolist() == [[0, 1]]
    assert f1([short_logits], [short_targets], 40, 1.0, "micro") == 1.0
    # protocol xares-0.1.3: upstream drops such a clip (it gives no row at all)
    truth, pred = segment_indicators(
        [short_logits, np.full((30, 2), NEG)],
        [short_targets, np.zeros((30, 2), dtype=np.float32)],
        hop_size_in_ms=40,
        segment_length_in_s=1.0,
        keep_short_clips=False,
    )
    assert truth.tolist() == [[0, 0]] and pred.tolist() == [[0, 0]]
    # a 60-frame clip gives two rows; its last 10 frames are an incomplete window and are dropped
    long_targets = np.zeros((60, 2), dtype=np.float32)
    long_targets[55, 0] = 1
    truth, _ = segment_indicators(
        [np.full((60, 2), NEG)], [long_targets], hop_size_in_ms=40, segment_length_in_s=1.0
    )
    assert truth.tolist() == [[0, 0], [0, 0]]


def test_maestro_micro_at_40_ms_pools_three_frames():
    targets = np.zeros((9, 1), dtype=np.float32)
    targets[4, 0] = 1  # second window of three
    logits = np.full((9, 1), NEG)
    logits[3, 0] = POS  # same window, other frame -> tp
    logits[8, 0] = POS  # third window -> fp
    truth, pred = segment_indicators([logits], [targets], hop_size_in_ms=40, segment_length_in_s=0.1)
    assert truth[:, 0].tolist() == [0, 1, 0] and pred[:, 0].tolist() == [0, 1, 1]
    assert f1([logits], [targets], 40, 0.1, "micro") == pytest.approx(2 / 3)


def test_threshold_is_strictly_above_one_half():
    targets = np.ones((4, 1), dtype=np.float32)
    assert f1([np.zeros((4, 1))], [targets], 100, 0.1, "micro") == 0.0  # sigmoid(0) = 0.5 rounds to 0
    assert f1([np.full((4, 1), 1e-3)], [targets], 100, 0.1, "micro") == 1.0


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("hop_ms", "seconds"), [(40, 1.0), (40, 0.1), (10, 0.25), (20, 0.5)])
def test_agrees_with_a_brute_force_implementation(seed, hop_ms, seconds):
    rng = np.random.default_rng(seed)
    classes = int(rng.integers(1, 6))
    logits, targets = [], []
    for _ in range(int(rng.integers(1, 7))):
        frames = int(rng.integers(1, 120))
        active = rng.random((frames, classes)) < rng.uniform(0.0, 0.2)
        targets.append(active.astype(np.float32))
        logits.append(rng.normal(-1.0, 1.5, (frames, classes)) + 2.5 * active)
    window = segment_window(hop_size_in_ms=hop_ms, segment_length_in_s=seconds)
    truth, pred = brute_force_rows(logits, targets, window)
    for average in ("macro", "micro"):
        ours = f1(logits, targets, hop_ms, seconds, average)
        assert ours == pytest.approx(brute_force_f1(truth, pred, average), abs=1e-12)
        if classes > 1:  # scikit-learn reads one column as binary labels, see test_a_single_class
            assert ours == pytest.approx(f1_score(truth, pred, average=average, zero_division=0), abs=1e-12)


def test_a_single_class_scores_its_own_f1_both_ways():
    targets = np.zeros((10, 1), dtype=np.float32)
    targets[:4] = 1
    logits = np.full((10, 1), NEG)
    logits[2:6] = POS  # tp 2, fp 2, fn 2 -> 0.5; accuracy would be 0.6
    for average in ("macro", "micro"):
        assert f1([logits], [targets], 100, 0.1, average) == pytest.approx(0.5)


def test_registry_names_direction_and_arguments():
    for name, average in (("segmentf1_macro", "macro"), ("segmentf1_micro", "micro")):
        metric = get_metric(name)
        assert metric.higher_is_better and metric.better(0.6, 0.5) and not metric.better(0.5, 0.5)
        rng = np.random.default_rng(0)
        logits = [rng.normal(size=(50, 3)) for _ in range(3)]
        targets = [(rng.random((50, 3)) < 0.3).astype(np.float32) for _ in range(3)]
        assert metric.compute(logits, targets, hop_size_in_ms=40, segment_length_in_s=1.0) == f1(
            logits, targets, 40, 1.0, average
        )


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="2 clips but targets of 1"):
        f1([np.zeros((3, 1))] * 2, [np.zeros((3, 1))], 40, 1.0, "macro")
    with pytest.raises(ValueError, match="same T"):
        f1([np.zeros((3, 1))], [np.zeros((4, 1))], 40, 1.0, "macro")
    with pytest.raises(ValueError, match="average"):
        f1([np.zeros((3, 1))], [np.zeros((3, 1))], 40, 1.0, "weighted")


def test_frame_map_ranks_frames_and_skips_absent_classes():
    targets = np.zeros((6, 2), dtype=np.float32)
    targets[:3, 0] = 1
    logits = np.zeros((6, 2))
    logits[:3, 0] = 1.0  # perfect ranking of class 0; class 1 never occurs and is left out
    assert frame_average_precision([logits[:2], logits[2:]], [targets[:2], targets[2:]]) == pytest.approx(1.0)
    assert frame_average_precision([logits], [np.zeros_like(targets)]) is None
