"""The frame-level task type: event lists -> frame targets, the per-frame probe, the offline scenes task."""

import dataclasses
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xares import stats
from xares.errors import LabelError, TaskConfigError
from xares.metrics.segment import segment_f1
from xares.probes import ProbeContext, get_probe
from xares.probes.frame import events_to_frames, label_frame_count, make_frame_targets, run_frame_probe
from xares.report import load_results
from xares.store import SplitEmbeddings, load_split, read_manifest
from xares.task import TaskConfig, load_task_config

ROOT = Path(__file__).resolve().parents[1]
SCENES_TASK = ROOT / "src/tasks/offline/scenes_task.py"
RATE = 16000
ENCODER = SimpleNamespace(sampling_rate=RATE, hop_size_in_ms=10, output_dim=8)
BASELINE = np.array([2.0, -1.0, 1.5, -2.0, 0.5, -0.5, 2.5, -3.0])


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The heads here are tiny: extra torch threads only add waiting, a lot of it on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def listed_events(meta):
    return [tuple(event) for event in meta["events"]]


def frame_config(**changes):
    fields = dict(
        name="synthetic_frames",
        encoder=ENCODER,
        task_type="frame",
        label_processor=listed_events,
        output_dim=3,
        metric="segmentf1_macro",
        metric_args={"segment_length_in_s": 0.5},
        criterion="BCEWithLogitsLoss",
        epochs=10,
        learning_rate=5e-2,  # a small task: few optimiser steps, so a large rate
        batch_size_train=4,
        do_knn=False,
    )
    fields.update(changes)
    return TaskConfig(**fields)


def in_memory_split(clips, metas, num_samples):
    """A SplitEmbeddings built in memory the way the store lays one out on disk."""
    return SplitEmbeddings(
        frames=np.concatenate(clips).astype(np.float16),
        offsets=np.cumsum([0] + [len(c) for c in clips]).astype(np.int64),
        pooled=np.stack([c.mean(axis=0) for c in clips]).astype(np.float32),
        samples=[
            {"key": f"clip{i:03d}", "shard": "mem-000000.tar", "crop": 0, "num_samples": n, "meta": m}
            for i, (m, n) in enumerate(zip(metas, num_samples, strict=True))
        ],
        manifest={},
    )


def separable_split(rng, count, *, seconds=2.0, classes=3, dim=8, extra_frames=1):
    """Clips whose frame features carry the active classes (+5 on dimension c) over a fixed baseline.

    The baseline matters: LayerNorm rescales every frame to unit variance, so over pure noise a silent
    frame would be blown up to look as loud as an active one.

    Like a real encoder, the store holds one frame more than ceil(duration / hop) (the mel encoder's
    centred frames); a few clips have no event at all.
    """
    clips, metas = [], []
    label_frames = label_frame_count(int(seconds * RATE), sampling_rate=RATE, hop_size_in_ms=10)
    for _ in range(count):
        events = []
        for _ in range(int(rng.integers(0, 4))):
            length = float(rng.uniform(0.2, 1.0))
            onset = float(rng.uniform(0.0, seconds - length))
            events.append([round(onset, 3), round(onset + length, 3), int(rng.integers(classes))])
        targets = events_to_frames(
            events, num_frames=label_frames + extra_frames, hop_size_in_ms=10, num_classes=classes
        )
        features = BASELINE[:dim] + 0.3 * rng.standard_normal((label_frames + extra_frames, dim))
        features[:, :classes] += 5.0 * targets
        clips.append(features.astype(np.float32))
        metas.append({"events": events})
    return in_memory_split(clips, metas, [int(seconds * RATE)] * count)


# ----- event lists -> frame targets ----------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    hop_ms=st.sampled_from([10, 20, 25, 40, 100]),
    clip_samples=st.integers(1, 3 * RATE),
    raw_events=st.lists(
        st.tuples(st.integers(0, 3 * RATE), st.integers(0, 3 * RATE), st.integers(0, 2)), max_size=6
    ),
)
def test_active_frames_are_exactly_those_the_events_overlap(hop_ms, clip_samples, raw_events):
    # times on the sample grid, events within the clip; checked in exact integer arithmetic
    hop = hop_ms * RATE // 1000
    events = []
    for a, b, cls in raw_events:
        onset, offset = sorted((min(a, clip_samples), min(b, clip_samples)))
        events.append((onset, offset, cls))
    frames = label_frame_count(clip_samples, sampling_rate=RATE, hop_size_in_ms=hop_ms)
    assert frames == -(-clip_samples // hop)
    targets = events_to_frames(
        [(on / RATE, off / RATE, cls) for on, off, cls in events],
        num_frames=frames,
        hop_size_in_ms=hop_ms,
        num_classes=3,
    )
    expected = np.zeros((frames, 3), dtype=np.float32)
    for i in range(frames):
        for on, off, cls in events:
            if on < (i + 1) * hop and off > i * hop:  # [i hop, (i + 1) hop) overlaps [on, off)
                expected[i, cls] = 1.0
    np.testing.assert_array_equal(targets, expected)


def test_events_outside_the_clip_are_cut_and_bad_events_refused():
    targets = events_to_frames(
        [(-1.0, 0.025, 0), (0.075, 9.0, 1)], num_frames=10, hop_size_in_ms=10, num_classes=2
    )
    assert targets[:, 0].tolist() == [1, 1, 1] + [0] * 7 and targets[:, 1].tolist() == [0] * 7 + [1] * 3
    assert not events_to_frames([(0.5, 0.5, 0)], num_frames=100, hop_size_in_ms=10, num_classes=1).any()
    for bad, message in (
        ([(0.1, 0.2, 3)], "class index 3"),
        ([(0.3, 0.2, 0)], "onset <= offset"),
        ([(0.1, 0.2)], "not \\(onset_s"),
        ([(0.1, float("nan"), 0)], "finite"),
    ):
        with pytest.raises(ValueError, match=message):
            events_to_frames(bad, num_frames=100, hop_size_in_ms=10, num_classes=3)


def test_targets_fit_the_stored_frames_and_a_wrong_hop_is_reported_once(caplog):
    rng = np.random.default_rng(0)
    split = separable_split(rng, 3)  # 201 stored frames for 200 label frames at 10 ms
    config = frame_config()
    with caplog.at_level(logging.WARNING, logger="xares.probes.frame"):
        targets = make_frame_targets(
            config, "train", split, hop_size_in_ms=10, sampling_rate=RATE, tolerance_frames=50
        )
    assert [t.shape for t in targets] == [(201, 3)] * 3 and not caplog.records
    assert not any(t[200].any() for t in targets)  # the padded frame is inactive

    # the encoder says 20 ms but stores 10 ms frames: 100 label frames against 201 encoder frames
    with caplog.at_level(logging.WARNING, logger="xares.probes.frame"):
        targets = make_frame_targets(
            config, "train", split, hop_size_in_ms=20, sampling_rate=RATE, tolerance_frames=25
        )
    assert [t.shape for t in targets] == [(201, 3)] * 3
    (record,) = caplog.records
    assert "3 of 3 clips" in record.getMessage() and "'train'" in record.getMessage()
    assert "100 label frames at hop 20 ms but 201 encoder frames" in record.getMessage()

    # trimming: the labels are longer than the stored frames
    short = in_memory_split([np.zeros((50, 8), np.float32)], [{"events": [[0.0, 2.0, 1]]}], [2 * RATE])
    (trimmed,) = make_frame_targets(
        config, "test", short, hop_size_in_ms=10, sampling_rate=RATE, tolerance_frames=500
    )
    assert trimmed.shape == (50, 3) and trimmed[:, 1].all()


def test_crops_shift_events_to_the_crop_start():
    config = frame_config(crop_length=1.0)
    split = in_memory_split(
        [np.zeros((100, 8), np.float32)] * 2, [{"events": [[0.5, 1.5, 2]]}] * 2, [RATE] * 2
    )
    split.samples[1]["crop"] = 1
    first, second = make_frame_targets(
        config, "train", split, hop_size_in_ms=10, sampling_rate=RATE, tolerance_frames=100
    )
    assert first[:, 2].nonzero()[0].tolist() == list(range(50, 100))
    assert second[:, 2].nonzero()[0].tolist() == list(range(0, 50))


def broken_labels(meta):
    return meta["no such key"]


def out_of_range_labels(meta):
    return [(0.0, 1.0, 7)]


def test_label_failures_name_the_sample():
    split = separable_split(np.random.default_rng(1), 2)
    with pytest.raises(LabelError, match="sample 'clip000'.*KeyError"):
        make_frame_targets(
            frame_config(label_processor=broken_labels),
            "valid",
            split,
            hop_size_in_ms=10,
            sampling_rate=RATE,
            tolerance_frames=1,
        )
    with pytest.raises(LabelError, match="split 'valid'.*class index 7"):
        make_frame_targets(
            frame_config(label_processor=out_of_range_labels),
            "valid",
            split,
            hop_size_in_ms=10,
            sampling_rate=RATE,
            tolerance_frames=1,
        )
    with pytest.raises(TaskConfigError, match="sampling_rate"):
        make_frame_targets(
            frame_config(), "valid", split, hop_size_in_ms=10, sampling_rate=0, tolerance_frames=1
        )


# ----- the probe -----------------------------------------------------------------------------------
def test_the_probe_learns_a_separable_frame_task_and_is_deterministic():
    rng = np.random.default_rng(2)
    splits = {
        "train": separable_split(rng, 40),
        "valid": separable_split(rng, 10),
        "test": separable_split(rng, 12),
    }
    assert get_probe("frame") is run_frame_probe
    first = run_frame_probe(
        frame_config(), splits, ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=RATE)
    )
    second = run_frame_probe(
        frame_config(), splits, ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=RATE)
    )
    assert first.mlp_score > 0.95 and first.knn_score is None and first.num_test_clips == 12
    assert first.metrics["frame_mAP"] > 0.95 and set(first.metrics) == {
        "segmentf1_macro",
        "segmentf1_micro",
        "frame_mAP",
    }
    assert first.mlp_score == first.metrics["segmentf1_macro"]
    assert (first.mlp_score, first.metrics, first.folds) == (second.mlp_score, second.metrics, second.folds)

    # micro as the headline metric, MAESTRO's scalar pos_weight, and a single training epoch
    micro = run_frame_probe(
        frame_config(
            metric="segmentf1_micro", metric_args={"segment_length_in_s": 0.1, "pos_weight": 10}, epochs=1
        ),
        splits,
        ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=RATE),
    )
    assert micro.mlp_score == micro.metrics["segmentf1_micro"] and micro.folds[0]["best_epoch"] == 0


def test_per_class_scores_of_a_frame_task_carry_the_tasks_class_names():
    from xares.stats import merge_records, per_class_scores

    rng = np.random.default_rng(4)
    splits = {
        "train": separable_split(rng, 20),
        "valid": separable_split(rng, 6),
        "test": separable_split(rng, 8),
    }
    names = [f"event {c}" for c in range(frame_config().output_dim)]
    result = run_frame_probe(
        frame_config(class_names=names), splits, ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=RATE)
    )
    clips = merge_records([[f["per_clip"] for f in result.folds]], [0], [f["name"] for f in result.folds])
    table = per_class_scores(clips, "mlp_score")
    assert table is not None and table["names"] == names and len(table["f1"]) == len(names)


def test_the_probe_on_noise_features_is_not_better_than_chance():
    rng = np.random.default_rng(3)
    splits = {
        "train": separable_split(rng, 30),
        "valid": separable_split(rng, 10),
        "test": separable_split(rng, 10),
    }
    for split in splits.values():  # replace the informative frames with noise, keep the labels
        split.frames = rng.standard_normal(split.frames.shape).astype(np.float16)
    result = run_frame_probe(
        frame_config(), splits, ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=RATE)
    )
    test = splits["test"]
    targets = make_frame_targets(
        frame_config(), "test", test, hop_size_in_ms=10, sampling_rate=RATE, tolerance_frames=50
    )
    all_positive = segment_f1(
        [np.ones_like(t) for t in targets],
        targets,
        hop_size_in_ms=10,
        segment_length_in_s=0.5,
        average="macro",
    )
    assert result.mlp_score <= all_positive + 0.05


def test_k_fold_frame_tasks_hold_out_each_fold():
    rng = np.random.default_rng(4)
    splits = {fold: separable_split(rng, 12) for fold in (1, 2, 3)}
    config = frame_config(k_fold_splits=[1, 2, 3])
    result = run_frame_probe(config, splits, ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=RATE))
    assert [f["name"] for f in result.folds] == ["fold 1", "fold 2", "fold 3"]
    assert all(f["num_train"] == 24 and f["num_test"] == 12 for f in result.folds)
    assert result.mlp_score == pytest.approx(np.mean([f["mlp_score"] for f in result.folds]))
    assert result.num_test_clips == 36 and result.mlp_score > 0.9


def test_frame_probe_refuses_a_wrong_setup():
    splits = {s: separable_split(np.random.default_rng(5), 4) for s in ("train", "valid", "test")}
    with pytest.raises(TaskConfigError, match="BCEWithLogitsLoss"):
        run_frame_probe(
            frame_config(criterion="CrossEntropyLoss"),
            splits,
            ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=RATE),
        )
    with pytest.raises(TaskConfigError, match="pos_weight"):
        run_frame_probe(
            frame_config(metric_args={"segment_length_in_s": 1.0, "pos_weight": [1.0, 2.0]}),
            splits,
            ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=RATE),
        )
    with pytest.raises(TaskConfigError, match="label_processor"):
        run_frame_probe(
            frame_config(label_processor=None),
            splits,
            ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=RATE),
        )


# ----- the offline scenes task ---------------------------------------------------------------------
def test_scenes_labels_and_scene_synthesis():
    from xares.data.offline.scenes import CLASSES, SCENE_SECONDS, make_scene

    config = load_task_config(SCENES_TASK, ENCODER)
    assert config.task_type == "frame" and config.output_dim == len(CLASSES) == 5
    assert config.metric_args == {"segment_length_in_s": 1.0, "hop_size_in_ms": 10} and not config.do_knn
    assert load_task_config(SCENES_TASK, None).metric_args["hop_size_in_ms"] is None
    meta = {
        "events": [
            {"onset": 0.5, "offset": 1.25, "label": "tone"},
            {"onset": 2, "offset": 3, "label": "chirp,harmonic"},
        ]
    }
    assert config.label_processor(meta) == [(0.5, 1.25, 0), (2.0, 3.0, 1), (2.0, 3.0, 4)]
    assert config.label_processor(meta["events"][:1]) == [(0.5, 1.25, 0)]  # DESED's bare list
    with pytest.raises(LabelError, match="unknown sound event 'Speech'"):
        config.label_processor({"events": [{"onset": 0, "offset": 1, "label": "Speech"}]})

    rng = np.random.default_rng(0)
    scenes = [make_scene(rng) for _ in range(30)]
    assert any(not events for _, events in scenes) and any(len(events) >= 3 for _, events in scenes)
    for wave, events in scenes:
        assert (
            wave.shape == (int(SCENE_SECONDS * RATE),) and wave.dtype == np.float32 and np.abs(wave).max() < 1
        )
        for event in events:
            assert 0 <= event["onset"] < event["offset"] <= SCENE_SECONDS and event["label"] in CLASSES


def run_cli(args, cwd):
    # one torch thread: the heads are tiny, and threads only fight when test runs share a machine
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    outcome = subprocess.run(
        [sys.executable, "-m", "xares.run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    return time.perf_counter() - started


@pytest.mark.slow
def test_scenes_end_to_end_mel_is_far_above_random_and_chance(tmp_path):
    mel = run_cli(
        [str(ROOT / "example/mel/mel_encoder.py"), str(SCENES_TASK), "--results", "mel.json"], tmp_path
    )
    rnd = run_cli(
        [str(ROOT / "example/random/random_encoder.py"), str(SCENES_TASK), "--results", "random.json"],
        tmp_path,
    )
    (mel_task,) = load_results(tmp_path / "mel.json")["tasks"]
    (random_task,) = load_results(tmp_path / "random.json")["tasks"]
    assert mel_task["status"] == random_task["status"] == "ok"
    assert mel_task["knn_score"] is None and mel_task["num_test_clips"] == 50
    assert {"segmentf1_macro", "segmentf1_micro", "frame_mAP"} <= set(mel_task["metrics"])
    for task in (mel_task, random_task):  # intervals over the test clips, frame_mAP's excepted
        for name in ("mlp_score", "segmentf1_macro", "segmentf1_micro"):
            low, high = task["scores"][name]["ci95"]
            assert low <= task["scores"][name]["value"] <= high
        assert task["scores"]["frame_mAP"]["ci95"] is None

    # chance: always predicting every class, and predicting each class at its segment prior
    (test_dir,) = (tmp_path / "env/offline_scenes/embeddings").glob("MelEncoder-*/test")
    test = load_split(test_dir, read_manifest(test_dir)["key"])
    config = load_task_config(SCENES_TASK, ENCODER)
    targets = make_frame_targets(
        config, "test", test, hop_size_in_ms=10, sampling_rate=RATE, tolerance_frames=100
    )
    all_positive = segment_f1(
        [np.ones_like(t) for t in targets],
        targets,
        hop_size_in_ms=10,
        segment_length_in_s=1.0,
        average="macro",
    )
    prior = float(
        np.mean(
            np.concatenate([t[: len(t) // 100 * 100].reshape(-1, 100, 5).max(1) for t in targets]).mean(0)
        )
    )
    report = {
        "mel": round(mel_task["mlp_score"], 3),
        "random": round(random_task["mlp_score"], 3),
        "chance_all_positive": round(all_positive, 3),
        "chance_prior": round(prior, 3),
        "mel_metrics": {k: round(v, 3) for k, v in mel_task["metrics"].items()},
        "wall_s": {"mel": round(mel, 1), "random": round(rnd, 1)},
        "mel_timings": mel_task["timings"],
        "random_timings": random_task["timings"],
    }
    print("offline_scenes segment F1 (macro, 1 s):", json.dumps(report))
    assert mel_task["mlp_score"] > all_positive + 0.3 and mel_task["mlp_score"] > 0.6
    assert random_task["mlp_score"] < all_positive + 0.05


# ----- per-clip test data ----------------------------------------------------------------------------
def test_per_clip_data_reproduces_the_scores_and_pairs_two_encoders():
    rng = np.random.default_rng(6)
    splits = {name: separable_split(rng, n) for name, n in (("train", 30), ("valid", 10), ("test", 40))}
    noise = {}
    for name, split in splits.items():  # a second "encoder": noise frames for the same clips and labels
        frames = rng.standard_normal(split.frames.shape).astype(np.float16)
        noise[name] = dataclasses.replace(split, frames=frames)
    config = frame_config()
    clips = {}
    for label, data in (("good", splits), ("noise", noise)):
        result = run_frame_probe(config, data, ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=RATE))
        entry = stats.combine_seeds([result], [0], config)
        assert all("per_clip" not in fold for fold in entry["folds"])  # kept once, pooled
        clips[label] = stats.TestClips.from_json(entry["per_clip"])
        assert clips[label].keys == stats.clip_keys(data["test"].samples)
        assert stats.observed(clips[label], "mlp_score")[0] == pytest.approx(result.mlp_score)
        for name in ("segmentf1_macro", "segmentf1_micro"):
            assert stats.observed(clips[label], name)[0] == pytest.approx(result.metrics[name])
        assert "frame_mAP" not in clips[label].scores  # not a per-clip statistic (see the module notes)
        draws = stats.bootstrap(clips[label], ["mlp_score"], resamples=200, seed=0)["mlp_score"]
        low, high = stats.interval(draws, observed=result.mlp_score)
        assert low <= result.mlp_score <= high
    test = stats.paired_test(clips["good"], clips["noise"], "mlp_score", resamples=300)
    assert test.shared_clips == 40 and test.difference > 0.3 and test.p_value < 0.05


def test_protocol_xares_0_1_3_averages_the_frame_loss_over_the_batch_padding():
    """Upstream pads each batch to its longest clip with zero frames labelled inactive and averages the
    loss over all of it: the same number as the materialised padded batch, without materialising it."""
    from xares.probes.frame import LinearHead, loss_over_padding

    torch.manual_seed(0)
    head = LinearHead(4, 3)
    pos_weight = torch.tensor(10.0)
    clips = [torch.randn(5, 4), torch.randn(2, 4)]
    labels = [torch.randint(0, 2, (5, 3)).float(), torch.randint(0, 2, (2, 3)).float()]
    padded = torch.zeros(2, 5, 4)
    padded_labels = torch.zeros(2, 5, 3)
    for i, (clip, label) in enumerate(zip(clips, labels, strict=True)):
        padded[i, : len(clip)], padded_labels[i, : len(clip)] = clip, label
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)(head(padded), padded_labels)
    summed = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="sum")
    found = loss_over_padding(summed, head, torch.cat(clips), torch.cat(labels), [5, 2])
    assert torch.isclose(found, expected, rtol=1e-6)

    # a training split of 2 s and 1.1 s clips, so that batches hold padding: the two losses then differ
    rng = np.random.default_rng(2)
    parts = [separable_split(rng, 20), separable_split(rng, 20, seconds=1.1)]
    mixed = in_memory_split(
        [np.asarray(p.clip_frames(i), np.float32) for p in parts for i in range(len(p.samples))],
        [s["meta"] for p in parts for s in p.samples],
        [s["num_samples"] for p in parts for s in p.samples],
    )
    splits = {"train": mixed, "valid": separable_split(rng, 10), "test": separable_split(rng, 12)}
    results = {
        protocol: run_frame_probe(
            frame_config(epochs=3),
            splits,
            ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=RATE, protocol=protocol),
        )
        for protocol in ("published", "xares-0.1.3")
    }
    published, upstream = results["published"], results["xares-0.1.3"]
    assert published.mlp_score > 0.5 and upstream.mlp_score > 0.5
    assert published.folds[0]["valid_score"] != upstream.folds[0]["valid_score"] or (
        published.metrics != upstream.metrics
    )
