"""xares.stats: per-clip records reproduce every metric, weights behave like resampling, bootstrap and
paired tests say what they should, and the clip probe's protocols arrange data as documented."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from xares import stats
from xares.metrics.classification import (
    accuracy,
    equal_error_rate,
    mean_average_precision,
    weighted_average_precision,
)
from xares.metrics.regression import mean_absolute_error, mean_squared_error, pearson_correlation
from xares.metrics.retrieval import retrieval_metrics_from_similarity
from xares.metrics.segment import segment_f1
from xares.metrics.wer import wer_inv, word_error_rate


def one_fold(record: stats.ClipRecord, seeds=(42,)) -> stats.TestClips:
    return stats.merge_records([[record]] * len(seeds), list(seeds), ["test"])


def observed(record: stats.ClipRecord, name: str = "mlp_score") -> float:
    return stats.observed(one_fold(record), name)[0]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_arrays_round_trip_compactly():
    for array in (
        np.arange(12, dtype=np.int16).reshape(3, 4),
        np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float16),
        np.zeros((1, 0), np.uint8),
    ):
        encoded = stats.encode_array(array)
        back = stats.decode_array(encoded)
        assert back.dtype == array.dtype and back.shape == array.shape and np.array_equal(back, array)
    zeros = stats.encode_array(np.zeros(10_000, np.uint8))
    assert len(zeros["zlib_base64"]) < 200  # compressed
    with pytest.raises(ValueError, match="damaged"):
        stats.decode_array({**zeros, "zlib_base64": "not base64 of zlib"})


def test_clip_keys_mark_crops_and_repeats():
    samples = [{"key": "a"}, {"key": "a", "crop": 1}, {"key": "b", "crop": 0}, {"key": "a"}]
    assert stats.clip_keys(samples) == ["a", "a#1", "b", "a~2"]


@pytest.mark.parametrize("seed", range(5))
def test_weighted_average_precision_is_sklearns(seed):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.standard_normal(40), 1)  # rounding makes ties
    positive = rng.random(40) < 0.3
    positive[0] = True
    ones = np.ones((1, 40))
    assert weighted_average_precision(scores, positive, ones)[0] == pytest.approx(
        average_precision_score(positive, scores)
    )
    counts = rng.integers(0, 3, 40)
    counts[0] = 1
    repeated = np.repeat(np.arange(40), counts)
    assert weighted_average_precision(scores, positive, counts[None].astype(float))[0] == pytest.approx(
        average_precision_score(positive[repeated], scores[repeated])
    )


def test_every_clip_metric_is_reproduced_from_its_record(rng):
    outputs = rng.standard_normal((60, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 60)
    multi_hot = (rng.random((60, 4)) < 0.3).astype(np.float32)
    binary = rng.integers(0, 2, 60)
    regression = rng.standard_normal(60).astype(np.float32)
    keys = [f"k{i}" for i in range(60)]
    cases = [
        ("accuracy", outputs, labels, accuracy(outputs, labels)),
        ("mAP", outputs, multi_hot, mean_average_precision(outputs.astype(np.float16), multi_hot)),
        ("EER", outputs[:, :2], binary, equal_error_rate(outputs[:, :2], binary)),
        ("MSE", outputs[:, :1], regression, mean_squared_error(outputs[:, :1], regression)),
        ("MAE", outputs[:, :1], regression, mean_absolute_error(outputs[:, :1], regression)),
        ("pearson", outputs[:, :1], regression, pearson_correlation(outputs[:, :1], regression)),
    ]
    for metric, out, targets, expected in cases:
        record = stats.ClipRecord(keys, {"mlp_score": stats.head_scores(metric, out, targets)})
        assert observed(record) == pytest.approx(expected, abs=1e-6), metric


def test_integer_weights_are_repeated_clips(rng):
    outputs = rng.standard_normal((30, 3))
    labels = rng.integers(0, 3, 30)
    counts = rng.integers(0, 4, 30)
    repeated = np.repeat(np.arange(30), counts)
    record = stats.ClipRecord(
        [str(i) for i in range(30)], {"s": stats.head_scores("accuracy", outputs, labels)}
    )
    weighted = stats.score_under_weights(one_fold(record), "s", counts[None].astype(float))[0]
    assert weighted == pytest.approx(accuracy(outputs[repeated], labels[repeated]))


def test_kfold_score_is_the_mean_of_fold_scores(rng):
    records, fold_scores = [], []
    for fold in range(3):
        size = 10 + 5 * fold
        outputs, labels = rng.standard_normal((size, 3)), rng.integers(0, 3, size)
        records.append(
            stats.ClipRecord(
                [f"{fold}-{i}" for i in range(size)], {"s": stats.head_scores("accuracy", outputs, labels)}
            )
        )
        fold_scores.append(accuracy(outputs, labels))
    clips = stats.merge_records([records], [42], ["1", "2", "3"])
    assert stats.observed(clips, "s")[0] == pytest.approx(np.mean(fold_scores))
    assert len(clips) == 45 and clips.fold.tolist() == [0] * 10 + [1] * 15 + [2] * 20


def test_frame_record_reproduces_segment_f1(rng):
    outputs = [rng.standard_normal((int(rng.integers(5, 40)), 3)) for _ in range(8)]
    targets = [(rng.random(o.shape) < 0.3).astype(np.float32) for o in outputs]
    record = stats.frame_record(
        [f"c{i}" for i in range(8)],
        outputs,
        targets,
        metric="segmentf1_macro",
        hop_size_in_ms=100.0,
        segment_length_in_s=0.5,
    )
    for average in ("macro", "micro"):
        expected = segment_f1(
            outputs, targets, hop_size_in_ms=100.0, segment_length_in_s=0.5, average=average
        )
        assert observed(record, f"segmentf1_{average}") == pytest.approx(expected)
    assert observed(record) == pytest.approx(observed(record, "segmentf1_macro"))
    per_class = stats.per_class_scores(one_fold(record), "mlp_score")
    assert len(per_class["f1"]) == 3 and np.mean(per_class["f1"]) == pytest.approx(observed(record))


def test_retrieval_record_reproduces_recall(rng):
    text_to_clip = np.repeat(np.arange(12), 3)
    similarity = rng.standard_normal((36, 12))
    record = stats.retrieval_record([f"c{i}" for i in range(12)], similarity, text_to_clip)
    expected = retrieval_metrics_from_similarity(similarity, text_to_clip)
    assert observed(record) == pytest.approx(expected["recallatk_r1"])
    for name in ("audio_to_text_recall@5", "text_to_audio_recall@10"):
        assert observed(record, name) == pytest.approx(expected[name])


def test_asr_record_reproduces_wer():
    hypotheses = ["the cat sat", "", "a dog barks loudly", "hello there world"]
    references = ["the cat sat down", "some words here", "a dog barks", "hello world"]
    record = stats.asr_record(["u1", "u2", "u3", "u4"], hypotheses, references)
    assert observed(record) == pytest.approx(wer_inv(hypotheses, references))


def test_seeds_stack_and_identical_arrays_are_kept_once(rng):
    labels = rng.integers(0, 3, 20)
    records = []
    for _ in range(3):
        outputs = rng.standard_normal((20, 3))
        records.append(
            [
                stats.ClipRecord(
                    [str(i) for i in range(20)], {"s": stats.head_scores("accuracy", outputs, labels)}
                )
            ]
        )
    clips = stats.merge_records(records, [1, 2, 3], ["test"])
    kind, arrays = clips.scores["s"]
    assert arrays["predictions"].shape == (3, 20) and arrays["targets"].shape == (1, 20)
    value, per_seed = stats.observed(clips, "s")
    assert value == pytest.approx(np.mean(per_seed)) and len(per_seed) == 3
    back = stats.TestClips.from_json(clips.to_json())
    assert back.keys == clips.keys and stats.observed(back, "s")[1] == per_seed
    shuffled = [[stats.ClipRecord(list(reversed(records[0][0].keys)), records[0][0].scores)]]
    with pytest.raises(ValueError, match="different test clips"):
        stats.merge_records(records[:1] + shuffled, [1, 2], ["test"])


def test_bootstrap_is_deterministic_and_its_interval_covers_the_score(rng):
    outputs, labels = rng.standard_normal((200, 2)), rng.integers(0, 2, 200)
    outputs[labels == 1, 1] += 1.0
    clips = one_fold(
        stats.ClipRecord([str(i) for i in range(200)], {"s": stats.head_scores("accuracy", outputs, labels)})
    )
    first = stats.bootstrap(clips, ["s"], resamples=300, seed=7)["s"]
    again = stats.bootstrap(clips, ["s"], resamples=300, seed=7)["s"]
    assert np.array_equal(first, again)
    low, high = stats.interval(first)
    value = stats.observed(clips, "s")[0]
    assert low < value < high and 0.05 < high - low < 0.2  # about 2 * 1.96 * sqrt(p(1-p)/200)


def test_paired_test_matches_clips_by_key(rng):
    labels = rng.integers(0, 3, 150)
    good = np.eye(3)[labels] + 0.8 * rng.standard_normal((150, 3))
    bad = rng.standard_normal((150, 3))
    keys = [f"k{i}" for i in range(150)]
    a = one_fold(stats.ClipRecord(keys, {"s": stats.head_scores("accuracy", good, labels)}))
    b = one_fold(stats.ClipRecord(keys, {"s": stats.head_scores("accuracy", bad, labels)}))
    clear = stats.paired_test(a, b, "s", resamples=500)
    assert clear.difference > 0.2 and clear.p_value < 0.01 and clear.interval[0] > 0
    same = stats.paired_test(a, a, "s", resamples=500)
    assert same.difference == 0 and same.p_value == 1.0
    order = rng.permutation(150)[:100]  # B holds only some clips, in another order
    partial = stats.paired_test(a, b.subset(order), "s", resamples=200)
    assert partial.shared_clips == 100 and partial.clips_b == 100
    assert partial.score_b == pytest.approx(accuracy(bad[order], labels[order]))
    assert stats.paired_test(a, b.subset(np.array([], dtype=np.int64)), "s") is None


def test_class_names_come_from_the_clips_json():
    metas = [{"label": name, "id": i} for i, name in enumerate(["dog", "cat", "dog", "bird"])]
    assert stats.infer_class_names(metas, np.array([0, 1, 0, 2]), 4) == ["dog", "cat", "bird", "class 3"]
    multi = [{"labels": "rain;dog"}, {"labels": "dog"}, {"labels": "rain"}]
    targets = np.array([[1, 1], [0, 1], [1, 0]])
    assert stats.infer_class_names(multi, targets, 2) == ["rain", "dog"]
    assert stats.infer_class_names([{"x": 1}, {"x": 1}], np.array([0, 1]), 2) == ["class 0", "class 1"]


def test_per_class_scores_and_confusion():
    labels = np.array([0, 0, 1, 1, 2, 2])
    predictions = np.array([0, 1, 1, 1, 2, 0])
    record = stats.ClipRecord(
        list("abcdef"), {"s": ("accuracy", {"predictions": predictions, "targets": labels})}
    )
    record.class_names = ["x", "y", "z"]
    per_class = stats.per_class_scores(one_fold(record), "s")
    assert per_class["names"] == ["x", "y", "z"] and per_class["support"] == [2, 2, 2]
    assert per_class["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert per_class["recall"] == [0.5, 1.0, 0.5]


def test_combine_seeds_means_and_selection():
    class Outcome:
        def __init__(self, score, seed):
            self.mlp_score, self.knn_score, self.num_test_clips = score, 0.5, 4
            self.metrics = {"extra": score / 2}
            record = stats.ClipRecord(
                list("abcd"),
                {
                    "mlp_score": (
                        "accuracy",
                        {"predictions": np.array([0, 1, 1, seed % 2]), "targets": np.array([0, 1, 0, 1])},
                    )
                },
            )
            self.folds = [{"name": "test", "mlp_score": score, "num_test": 4, "per_clip": record}]

    class Config:
        is_kfold, valid_split, test_split = False, "valid", "test"

    combined = stats.combine_seeds([Outcome(0.75, 1), Outcome(0.5, 2)], [1, 2], Config())
    assert combined["mlp_score"] == 0.625 and combined["metrics"] == {"extra": 0.3125}
    assert combined["seed_scores"]["mlp_score"] == [0.75, 0.5]
    assert [f["seed"] for f in combined["folds"]] == [1, 2]
    assert combined["selection"] == "validation split 'valid'" and combined["selection_on_test"] is False
    clips = stats.TestClips.from_json(combined["per_clip"])
    assert stats.observed(clips, "mlp_score")[1] == [0.75, 0.5]
    assert stats.summarise_seeds([0.5, 0.75]).std == pytest.approx(np.std([0.5, 0.75], ddof=1))


# ----- the clip probe's protocols ------------------------------------------------------------------
class _Split:
    def __init__(self, keys, pooled):
        self.samples = [{"key": k, "shard": "s.tar", "crop": 0, "meta": {}} for k in keys]
        self.pooled = pooled

    def __len__(self):
        return len(self.samples)


def test_carved_validation_is_stratified_disjoint_and_keeps_crops_together():
    from xares.probes.clip import carve_validation

    keys = [f"clip{i // 2}" for i in range(200)]  # every clip cut into two crops
    targets = np.array([(i // 2) % 4 for i in range(200)])
    data = _Split(keys, np.zeros((200, 2)))
    train, valid = carve_validation(data, targets, fraction=0.1, seed=42)
    assert set(train).isdisjoint(valid) and len(train) + len(valid) == 200
    # 25 clips per class, round(2.5) = 2 of them per class, 2 crops each
    assert len(valid) == 16 and np.bincount(targets[valid]).tolist() == [4, 4, 4, 4]
    assert {keys[i] for i in valid}.isdisjoint({keys[i] for i in train})
    again = carve_validation(data, targets, fraction=0.1, seed=42)
    assert np.array_equal(again[1], valid)


def test_strict_protocol_never_selects_on_test():
    from xares.probes.clip import clip_arrangements
    from xares.taskconfig import TaskConfig

    kfold = TaskConfig(name="k", k_fold_splits=[1, 2, 3, 4], output_dim=2)
    splits = {f: _Split([f"{f}-{i}" for i in range(10)], np.zeros((10, 2))) for f in [1, 2, 3, 4]}
    targets = {f: np.arange(10) % 2 for f in [1, 2, 3, 4]}
    published = clip_arrangements(kfold, "published", splits, targets)
    assert all(a.selection_on_test and a.valid == [(a.test, None)] for a in published)
    strict = clip_arrangements(kfold, "strict", splits, targets)
    for arrangement, following in zip(strict, [2, 3, 4, 1], strict=True):
        assert arrangement.valid == [(following, None)] and not arrangement.selection_on_test
        assert {s for s, _ in arrangement.train} == {1, 2, 3, 4} - {arrangement.test, following}
        assert set(arrangement.knn_train) == {1, 2, 3, 4} - {arrangement.test}

    same = TaskConfig(name="s", valid_split="test", output_dim=2)
    splits = {s: _Split([f"{s}-{i}" for i in range(30)], np.zeros((30, 2))) for s in ("train", "test")}
    targets = {s: np.arange(30) % 2 for s in ("train", "test")}
    (arrangement,) = clip_arrangements(same, "strict", splits, targets)
    assert not arrangement.selection_on_test and all(
        s == "train" for s, _ in arrangement.valid + arrangement.train
    )
    (published,) = clip_arrangements(same, "xares-0.1.3", splits, targets)
    assert published.selection_on_test


def test_knn_reference_normalisation_of_xares_0_1_3():
    import torch

    from xares.probes.knn import knn_class_scores

    rng = np.random.default_rng(3)
    train, labels, query = (
        rng.random((20, 5)) * [1, 10, 100, 1, 1],
        rng.integers(0, 2, 20),
        rng.random((4, 5)),
    )
    reference = torch.nn.functional.normalize(torch.as_tensor(train.T, dtype=torch.float32), dim=1).T
    queries = torch.nn.functional.normalize(torch.as_tensor(query, dtype=torch.float32), dim=1)
    top, index = (queries @ reference.T).topk(5, dim=1)
    expected = torch.zeros(4, 2).scatter_add_(1, torch.as_tensor(labels)[index], torch.softmax(top / 0.07, 1))
    found = knn_class_scores(train, labels, query, num_classes=2, k=5, reference_normalisation="dimension")
    assert np.allclose(found, expected.numpy(), atol=1e-6)
    assert not np.allclose(found, knn_class_scores(train, labels, query, num_classes=2, k=5))
    with pytest.raises(ValueError, match="reference_normalisation"):
        knn_class_scores(train, labels, query, num_classes=2, reference_normalisation="rows")


# ----- frame, retrieval and ASR records ---------------------------------------------------------
def test_frame_record_follows_the_headline_metric_and_one_class(rng):
    outputs = [rng.standard_normal((int(rng.integers(3, 30)), 4)) for _ in range(10)]
    targets = [(rng.random(o.shape) < 0.4).astype(np.float32) for o in outputs]
    keys = [f"c{i}" for i in range(10)]
    args = {"hop_size_in_ms": 40.0, "segment_length_in_s": 0.2}
    micro = stats.frame_record(keys, outputs, targets, metric="segmentf1_micro", **args)
    assert observed(micro) == pytest.approx(segment_f1(outputs, targets, average="micro", **args))
    assert observed(micro) != pytest.approx(observed(micro, "segmentf1_macro"))
    other = stats.frame_record(keys, outputs, targets, metric="frame_mAP", **args)
    assert "mlp_score" not in other.scores  # a headline the counts cannot reproduce gets no interval
    single = stats.frame_record(
        keys, [o[:, :1] for o in outputs], [t[:, :1] for t in targets], metric="segmentf1_macro", **args
    )
    for average in ("macro", "micro"):  # one class: both are that class's F1, as segment_f1 says
        expected = segment_f1(
            [o[:, :1] for o in outputs], [t[:, :1] for t in targets], average=average, **args
        )
        assert observed(single, f"segmentf1_{average}") == pytest.approx(expected)


def naive_ranks(similarity: np.ndarray, text_to_clip: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """Rank of each text's clip, and of each clip's captions, ties counted against the query."""
    texts = np.arange(len(text_to_clip))
    own = similarity[texts, text_to_clip]
    text_ranks = (similarity >= own[:, None]).sum(1)
    clip_ranks = []
    for clip in range(similarity.shape[1]):
        column = similarity[:, clip]
        mine = np.flatnonzero(text_to_clip == clip)
        others = np.delete(column, mine)
        # rank of the j-th best own caption: others at or above it, plus the own captions before it
        ordered = np.sort(column[mine])[::-1]
        clip_ranks.append([int((others >= s).sum()) + j + 1 for j, s in enumerate(ordered)])
    return text_ranks, clip_ranks


def naive_retrieval_queries(similarity, text_to_clip):
    """Per query: hit at k for k in 1, 5, 10 and AP@10, both directions, by counting."""
    text_ranks, clip_ranks = naive_ranks(similarity, text_to_clip)
    t2a = {k: (text_ranks <= k).astype(float) for k in (1, 5, 10)}
    t2a["ap"] = np.where(text_ranks <= 10, 1.0 / text_ranks, 0.0)
    a2t = {k: np.array([float(r[0] <= k) for r in clip_ranks]) for k in (1, 5, 10)}
    a2t["ap"] = np.array(
        [
            sum((j + 1) / r for j, r in enumerate(ranks) if r <= 10) / min(len(ranks), 10)
            for ranks in clip_ranks
        ]
    )
    return a2t, t2a


def test_retrieval_record_reproduces_every_metric_and_draws_clips_with_their_captions(rng):
    text_to_clip = np.repeat(np.arange(15), rng.integers(1, 5, 15))  # 1 to 4 captions per clip
    similarity = np.round(rng.standard_normal((len(text_to_clip), 15)), 1)  # rounding makes ties
    keys = [f"c{i}" for i in range(15)]
    record = stats.retrieval_record(keys, similarity, text_to_clip)
    expected = retrieval_metrics_from_similarity(similarity, text_to_clip)
    assert observed(record) == pytest.approx(expected["recallatk_r1"])
    names = [n for n in expected if n != "recallatk_r1"]
    assert len(names) == 8 and set(names) <= set(record.scores)
    for name in names:
        assert observed(record, name) == pytest.approx(expected[name]), name
    # a clip drawn c times brings its captions c times: the scores of those repeated queries
    a2t, t2a = naive_retrieval_queries(similarity, text_to_clip)
    counts = rng.integers(0, 3, 15)
    counts[0] = 1
    clips = one_fold(record)
    weights = counts[None].astype(float)
    text_counts = counts[text_to_clip]
    for k in (1, 5, 10):
        assert stats.score_under_weights(clips, f"audio_to_text_recall@{k}", weights)[0] == pytest.approx(
            np.average(a2t[k], weights=counts)
        )
        assert stats.score_under_weights(clips, f"text_to_audio_recall@{k}", weights)[0] == pytest.approx(
            np.average(t2a[k], weights=text_counts)
        )
    assert stats.score_under_weights(clips, "audio_to_text_mAP@10", weights)[0] == pytest.approx(
        np.average(a2t["ap"], weights=counts)
    )
    assert stats.score_under_weights(clips, "text_to_audio_mAP@10", weights)[0] == pytest.approx(
        np.average(t2a["ap"], weights=text_counts)
    )
    headline = (np.average(a2t[1], weights=counts) + np.average(t2a[1], weights=text_counts)) / 2
    assert stats.score_under_weights(clips, "mlp_score", weights)[0] == pytest.approx(headline)
    with pytest.raises(ValueError, match="one key per clip"):
        stats.retrieval_record(keys[:-1], similarity, text_to_clip)


def test_asr_record_pools_word_edits_like_the_corpus_wer(rng):
    hypotheses = ["the cat sat", "", "a dog barks loudly", "hello there world", "one", "Big Words"]
    references = ["the cat sat down", "some words here", "a dog barks", "hello world", "", "big words"]
    record = stats.asr_record([f"u{i}" for i in range(6)], hypotheses, references)
    assert observed(record, "WER") == pytest.approx(word_error_rate(hypotheses, references))
    assert observed(record) == pytest.approx(wer_inv(hypotheses, references))
    counts = np.array([2, 0, 3, 1, 1, 2])
    repeated = np.repeat(np.arange(6), counts)
    weighted = stats.score_under_weights(one_fold(record), "mlp_score", counts[None].astype(float))[0]
    assert weighted == pytest.approx(
        wer_inv([hypotheses[i] for i in repeated], [references[i] for i in repeated])
    )
    bad = stats.asr_record(["u0", "u1"], ["x y z w v", "a b c"], ["a", "b"])  # WER above 1: WER_inv is 0
    assert observed(bad) == 0.0 and observed(bad, "WER") == pytest.approx(3.5)


@pytest.mark.parametrize("kind", ["frame", "retrieval", "asr"])
def test_intervals_of_every_task_type_cover_the_score_and_pair_two_encoders(rng, kind):
    size = 120
    keys = [f"c{i}" for i in range(size)]

    def record(signal: float) -> stats.ClipRecord:
        if kind == "frame":
            targets = [(rng.random((20, 3)) < 0.1).astype(np.float32) for _ in range(size)]
            outputs = [signal * (2 * t - 1) + rng.standard_normal(t.shape) for t in targets]
            return stats.frame_record(
                keys,
                outputs,
                targets,
                metric="segmentf1_macro",
                hop_size_in_ms=100.0,
                segment_length_in_s=0.1,
            )
        if kind == "retrieval":
            text_to_clip = np.repeat(np.arange(size), 3)
            similarity = rng.standard_normal((3 * size, size))
            similarity[np.arange(3 * size), text_to_clip] += signal
            return stats.retrieval_record(keys, similarity, text_to_clip)
        words = ["cat", "dog", "sun", "red"]
        references = [" ".join(rng.choice(words, 4)) for _ in range(size)]
        hypotheses = [" ".join(w if rng.random() < signal else "x" for w in r.split()) for r in references]
        return stats.asr_record(keys, hypotheses, references)

    strong, weak = one_fold(record({"frame": 1.0, "retrieval": 3.0, "asr": 0.8}[kind])), one_fold(record(0.3))
    for clips in (strong, weak):
        value = stats.observed(clips, "mlp_score")[0]
        draws = stats.bootstrap(clips, ["mlp_score"], resamples=300, seed=1)["mlp_score"]
        low, high = stats.interval(draws, observed=value)
        assert low <= value <= high and high > low
    test = stats.paired_test(strong, weak, "mlp_score", resamples=300)
    assert test.shared_clips == size and test.difference > 0.1 and test.p_value < 0.05
