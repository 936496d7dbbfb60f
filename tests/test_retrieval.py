"""Audio-text retrieval: the metric (hand-computed cases), tokenizers, the probe, and the offline task."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from xares import stats
from xares.data.offline import captions
from xares.data.shards import iter_shard
from xares.errors import LabelError, TaskConfigError
from xares.metrics import get_metric
from xares.metrics.retrieval import retrieval_metrics_from_similarity, similarities
from xares.probes import ProbeContext, get_probe
from xares.probes.retrieval import (
    HuggingFaceTokenizer,
    WordTokenizer,
    build_tokenizer,
    chance_recall_at_1,
    retrieval_split,
    run_retrieval_probe,
)
from xares.store import SplitEmbeddings
from xares.taskconfig import TaskConfig

ROOT = Path(__file__).resolve().parents[1]


def retrieval_metrics(audio, text, text_to_clip):
    """Every retrieval metric of embeddings, as the retrieval probe computes them."""
    return retrieval_metrics_from_similarity(similarities(audio, text), text_to_clip)


# ----- the metric ---------------------------------------------------------------------------------


def test_perfect_embeddings_score_one_everywhere():
    audio = np.eye(3, 4)
    text_to_clip = np.array([0, 0, 1, 1, 2, 2])
    result = retrieval_metrics(audio, audio[text_to_clip] * 3.0, text_to_clip)  # scale must not matter
    assert set(result) == {
        "recallatk_r1",
        *(
            f"{d}_{m}"
            for d in ("audio_to_text", "text_to_audio")
            for m in ("recall@1", "recall@5", "recall@10")
        ),
        "audio_to_text_mAP@10",
        "text_to_audio_mAP@10",
    }
    assert all(value == pytest.approx(1.0) for value in result.values())


def test_reversed_pairs_rank_every_match_last():
    audio = np.array([[1.0, 0.0], [0.0, 1.0]])
    text = np.array([[0.0, 1.0], [1.0, 0.0]])  # each clip's caption looks like the other clip
    result = retrieval_metrics(audio, text, np.array([0, 1]))
    assert result["recallatk_r1"] == 0.0
    assert result["audio_to_text_recall@1"] == result["text_to_audio_recall@1"] == 0.0
    assert result["audio_to_text_recall@5"] == result["text_to_audio_recall@5"] == 1.0  # only 2 items
    assert result["audio_to_text_mAP@10"] == result["text_to_audio_mAP@10"] == pytest.approx(0.5)


def test_several_captions_per_clip_by_hand():
    # texts t0, t1 describe clip A; t2, t3 clip B; t4 clip C. Rows: texts; columns: clips A, B, C.
    similarity = np.array(
        [
            [0.9, 0.1, 0.0],
            [0.2, 0.8, 0.1],
            [0.3, 0.7, 0.0],
            [0.6, 0.5, 0.4],
            [0.1, 0.2, 0.3],
        ]
    )
    result = retrieval_metrics_from_similarity(similarity, np.array([0, 0, 1, 1, 2]))
    # text -> audio ranks of the own clip: 1, 2, 1, 2, 1
    assert result["text_to_audio_recall@1"] == pytest.approx(3 / 5)
    assert result["text_to_audio_recall@5"] == 1.0
    assert result["text_to_audio_mAP@10"] == pytest.approx((1 + 1 / 2 + 1 + 1 / 2 + 1) / 5)
    # audio -> text: A ranks t0 t3 t2 t1 t4 (relevant at 1 and 4); B ranks t1 t2 t3 t4 t0 (relevant at
    # 2 and 3); C ranks t3 t4 ... (relevant at 2). Best ranks 1, 2, 2.
    assert result["audio_to_text_recall@1"] == pytest.approx(1 / 3)
    assert result["audio_to_text_recall@5"] == 1.0
    ap_a, ap_b, ap_c = (1 + 2 / 4) / 2, (1 / 2 + 2 / 3) / 2, 1 / 2
    assert result["audio_to_text_mAP@10"] == pytest.approx((ap_a + ap_b + ap_c) / 3)
    assert result["recallatk_r1"] == pytest.approx((1 / 3 + 3 / 5) / 2)
    metric = get_metric("recallatk_r1")
    assert metric.higher_is_better
    assert metric.compute(similarity, np.array([0, 0, 1, 1, 2])) == pytest.approx(result["recallatk_r1"])


def test_ties_count_against_the_query():
    # A constant encoder: everything ties, so every match ranks behind every non-match.
    result = retrieval_metrics(np.ones((3, 4)), np.ones((6, 4)), np.array([0, 0, 1, 1, 2, 2]))
    assert result["recallatk_r1"] == 0.0
    assert result["text_to_audio_mAP@10"] == pytest.approx(1 / 3)  # own clip at rank 3 of 3
    # audio -> text: 4 non-matching texts first, then the 2 matches at ranks 5 and 6
    assert result["audio_to_text_recall@5"] == 1.0
    assert result["audio_to_text_mAP@10"] == pytest.approx((1 / 5 + 2 / 6) / 2)
    # A tie between two captions of the same clip costs nothing; a tie with another clip does.
    similarity = np.array([[0.9, 0.1], [0.9, 0.2], [0.8, 0.8]])  # t0, t1 describe clip 0; t2 clip 1
    tied = retrieval_metrics_from_similarity(similarity, np.array([0, 0, 1]))
    assert tied["audio_to_text_recall@1"] == 1.0  # clip 0: t0 and t1 tie on top; clip 1: t2 on top
    assert tied["text_to_audio_recall@1"] == pytest.approx(2 / 3)  # t2's clip ties with clip 0: rank 2


def test_a_clip_whose_captions_are_all_ranked_last():
    # six clips with two captions each; clip 5's captions are the least similar texts to every clip
    text_to_clip = np.repeat(np.arange(6), 2)
    similarity = np.where(text_to_clip[:, None] == np.arange(6)[None, :], 1.0, 0.5)
    similarity[text_to_clip == 5] = 0.5
    similarity[text_to_clip == 5, 5] = 0.0
    result = retrieval_metrics_from_similarity(similarity, text_to_clip)
    # audio -> text: clip 5 sees 10 other texts at 0.5 before its own at 0.0 (ranks 11, 12)
    assert result["audio_to_text_recall@1"] == result["audio_to_text_recall@10"] == pytest.approx(5 / 6)
    assert result["audio_to_text_mAP@10"] == pytest.approx(5 / 6)
    # text -> audio: clip 5's two texts find their clip last of 6
    assert result["text_to_audio_recall@5"] == pytest.approx(10 / 12)
    assert result["text_to_audio_recall@10"] == 1.0
    assert result["text_to_audio_mAP@10"] == pytest.approx((10 + 2 / 6) / 12)


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="one clip index per text"):
        retrieval_metrics(np.eye(2), np.eye(2), np.array([0]))
    with pytest.raises(ValueError, match="have no text"):
        retrieval_metrics(np.eye(3), np.eye(3)[:2], np.array([0, 1]))
    with pytest.raises(ValueError, match="share one embedding size"):
        retrieval_metrics(np.eye(2), np.eye(2, 3), np.array([0, 1]))
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics(np.full((2, 2), np.nan), np.eye(2), np.array([0, 1]))


def naive_ranks(similarity: np.ndarray, text_to_clip: np.ndarray) -> tuple[list[int], list[int]]:
    """Ranks by counting, written independently of the metric's sort: ties go against the query."""
    text_ranks = [
        1 + sum(similarity[t, c] >= similarity[t, own] for c in range(similarity.shape[1]) if c != own)
        for t, own in enumerate(text_to_clip)
    ]
    clip_ranks = []
    for clip in range(similarity.shape[1]):
        best = max(similarity[t, clip] for t in np.flatnonzero(text_to_clip == clip))
        others = [similarity[t, clip] for t in np.flatnonzero(text_to_clip != clip)]
        clip_ranks.append(1 + sum(score >= best for score in others))
    return text_ranks, clip_ranks


@settings(max_examples=60, deadline=None)
@given(
    num_clips=st.integers(1, 7),
    captions=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 1),
    levels=st.integers(2, 6),
)
def test_recall_is_monotone_in_k_and_agrees_with_counting(num_clips, captions, seed, levels):
    rng = np.random.default_rng(seed)
    text_to_clip = np.repeat(np.arange(num_clips), captions)
    rng.shuffle(text_to_clip)
    similarity = rng.integers(0, levels, size=(len(text_to_clip), num_clips)) / levels  # many ties
    result = retrieval_metrics_from_similarity(similarity, text_to_clip)
    text_ranks, clip_ranks = naive_ranks(similarity, text_to_clip)
    for direction, ranks in (("text_to_audio", text_ranks), ("audio_to_text", clip_ranks)):
        recalls = [result[f"{direction}_recall@{k}"] for k in (1, 5, 10)]
        assert recalls == sorted(recalls)
        assert recalls == pytest.approx([np.mean(np.asarray(ranks) <= k) for k in (1, 5, 10)])
        assert 0.0 <= result[f"{direction}_mAP@10"] <= recalls[-1] + 1e-12
    assert result["text_to_audio_mAP@10"] == pytest.approx(
        np.mean([1 / r if r <= 10 else 0.0 for r in text_ranks])
    )


# ----- tokenizers ---------------------------------------------------------------------------------


def contrastive_config(**extra) -> TaskConfig:
    fields = dict(
        name="retrieval_test",
        task_type="contrastive",
        metric="recallatk_r1",
        criterion="AudioTextContrastiveLoss",
        do_knn=False,
        output_dim=32,
        metric_args={"hidden_dim": 32},
        epochs=6,
        learning_rate=3e-3,
        batch_size_train=64,
    )
    fields.update(extra)
    return TaskConfig(**fields)


def test_word_tokenizer_splits_punctuation_and_maps_unseen_words_to_unk():
    tokenizer = WordTokenizer.fit(["A dog, barking!", "a cat"])
    assert WordTokenizer.split("A Dog, barking!") == ["a", "dog", ",", "barking", "!"]
    # <pad>, <unk>, then by frequency ('a' twice), ties alphabetically
    assert tokenizer.tokens == ["<pad>", "<unk>", "a", "!", ",", "barking", "cat", "dog"]
    assert tokenizer.encode("A bird barking.") == [2, 1, 5, 1]
    assert tokenizer.vocab_size == 8 and tokenizer.description.startswith("words")
    assert WordTokenizer.fit(["a cat", "A dog, barking!"]).tokens == tokenizer.tokens  # order-free


def test_tokenizer_choice_explicit_dependency_and_default(caplog):
    assert isinstance(build_tokenizer(contrastive_config(), ["a b"]), WordTokenizer)
    words = contrastive_config(metric_args={"tokenizer": "words"}, pretrained_dependencies=["x:tokenizer"])
    assert isinstance(build_tokenizer(words, ["a b"]), WordTokenizer)
    # a declared dependency that is not available offline falls back, loudly
    missing = contrastive_config(pretrained_dependencies=["no-such-org/no-such-tokenizer:tokenizer"])
    with caplog.at_level(logging.WARNING, logger="xares.probes.retrieval"):
        assert isinstance(build_tokenizer(missing, ["a b"]), WordTokenizer)
    assert "not available offline" in caplog.text
    # a tokenizer the task names explicitly must load
    explicit = contrastive_config(metric_args={"tokenizer": "/nonexistent/tokenizer/dir"})
    with pytest.raises(TaskConfigError, match="cannot load tokenizer"):
        build_tokenizer(explicit, ["a b"])


def save_tiny_bert_style_tokenizer(directory: Path, words: list[str]) -> Path:
    """A WordPiece tokenizer with BERT's normaliser, special tokens and [CLS] ... [SEP] template."""
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = {token: index for index, token in enumerate([*specials, *words, "."])}
    core = tokenizers.Tokenizer(tokenizers.models.WordPiece(vocab, unk_token="[UNK]"))
    core.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    core.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    core.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    wrapped = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    wrapped.save_pretrained(directory)
    return directory


def test_a_locally_saved_transformers_tokenizer_is_used(tmp_path):
    path = save_tiny_bert_style_tokenizer(tmp_path / "tiny-bert", ["a", "dog", "cat"])
    config = contrastive_config(metric_args={"tokenizer": str(path), "hidden_dim": 32})
    tokenizer = build_tokenizer(config, [])
    assert isinstance(tokenizer, HuggingFaceTokenizer) and tokenizer.vocab_size == 8
    assert tokenizer.encode("A dog, cat.") == [2, 4, 5, 1, 6, 7, 3]
    assert tokenizer.description == f"transformers:{path}"
    # and it also drives a whole probe run: the fold records it
    splits = synthetic_splits(0, words=("dog", "cat", "a"))
    result = run_retrieval_probe(config, splits, ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=16000))
    assert result.folds[0]["tokenizer"] == f"transformers:{path}" and result.folds[0]["vocab_size"] == 8


# ----- the probe ----------------------------------------------------------------------------------

COLOURS = ("red", "green", "blue", "grey", "black", "white", "pink", "brown")
SHAPES = ("square", "circle", "star", "cross", "ring", "line", "dot", "arrow")


def fake_split(pooled: np.ndarray, metas: list[dict], frames: list[int] | None = None, keys=None):
    frames = frames or [1] * len(metas)
    keys = keys or [f"clip{i}" for i in range(len(metas))]
    return SplitEmbeddings(
        frames=np.zeros((sum(frames), pooled.shape[1]), np.float16),
        offsets=np.concatenate([[0], np.cumsum(frames)]).astype(np.int64),
        pooled=pooled.astype(np.float32),
        samples=[
            {"key": k, "shard": "s.tar", "crop": 0, "meta": m} for k, m in zip(keys, metas, strict=True)
        ],
        manifest={},
    )


def synthetic_splits(seed: int, *, scramble: bool = False, words: tuple[str, ...] | None = None):
    """Clips with one of 8 colours and 8 shapes (64 combinations, so most test clips are unique); the
    embedding holds both one-hots plus noise; 3 captions each."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split, count in (("train", 192), ("valid", 32), ("test", 32)):
        colour, shape = rng.integers(0, 8, count), rng.integers(0, 8, count)
        pooled = np.concatenate([np.eye(8)[colour], np.eye(8)[shape]], axis=1) * 2
        pooled = pooled + 0.3 * rng.standard_normal((count, 16))
        if scramble:
            pooled = rng.standard_normal(pooled.shape)
        metas = []
        for c, s in zip(colour, shape, strict=True):
            if words:  # only words the tiny transformers vocabulary knows, still informative
                first, second = words[c % 2], words[s % 2]
                texts = [f"{first} {second}", f"{second} {first}", f"a {first} {second}."]
            else:
                texts = [
                    f"a {COLOURS[c]} {SHAPES[s]}",
                    f"the {SHAPES[s]} is {COLOURS[c]}",
                    f"{COLOURS[c]} coloured {SHAPES[s]}!",
                ]
            metas.append({f"caption_{i + 1}": t for i, t in enumerate(texts)})
        splits[split] = fake_split(pooled, metas)
    return splits


def test_the_probe_learns_paired_data_is_deterministic_and_at_chance_on_noise():
    assert get_probe("contrastive") is run_retrieval_probe
    config = contrastive_config()
    first = run_retrieval_probe(
        config, synthetic_splits(1), ProbeContext(seed=3, hop_size_in_ms=10, sampling_rate=16000)
    )
    again = run_retrieval_probe(
        config, synthetic_splits(1), ProbeContext(seed=3, hop_size_in_ms=10, sampling_rate=16000)
    )
    fold = first.folds[0]
    chance = fold["chance_score"]
    assert chance == pytest.approx((3 / 96 + 1 / 32) / 2)
    assert first.mlp_score > 0.4 > 10 * chance and first.knn_score is None
    assert first.metrics["text_to_audio_recall@10"] > 0.9
    assert first.mlp_score == again.mlp_score and first.folds == again.folds
    assert fold["tokenizer"].startswith("words") and fold["num_test"] == first.num_test_clips == 32
    assert fold["num_test_texts"] == 96 and fold["num_train_pairs"] == 576 and 0 <= fold["best_epoch"] < 6
    noise = run_retrieval_probe(
        config,
        synthetic_splits(1, scramble=True),
        ProbeContext(seed=3, hop_size_in_ms=10, sampling_rate=16000),
    )
    assert noise.mlp_score < 0.08


def test_crops_are_merged_into_one_clip_and_captions_are_checked():
    config = contrastive_config(label_processor=None)
    metas = [{"a": "first caption", "b": "second"}] * 2 + [{"a": "other clip"}]
    split = fake_split(
        np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]), metas, frames=[1, 3, 2], keys=["k1", "k1", "k2"]
    )
    data = retrieval_split(config, "test", split)
    np.testing.assert_allclose(data.audio, [[0.25, 0.75], [5.0, 5.0]])  # frame-weighted mean of the crops
    assert data.captions == ["first caption", "second", "other clip"]  # default: the JSON's values
    assert data.text_to_clip.tolist() == [0, 0, 1]
    assert data.keys == ["k1", "k2"]  # one key per clip, as its per-clip test data is kept
    assert chance_recall_at_1(data) == pytest.approx(((2 / 3 + 1 / 3) / 2 + 1 / 2) / 2)
    for bad in ({}, {"a": ""}, {"a": 3}):
        with pytest.raises(LabelError, match="k1"):
            retrieval_split(config, "test", fake_split(np.ones((1, 2)), [bad], keys=["k1"]))
    with pytest.raises(TaskConfigError, match="output_dim"):
        run_retrieval_probe(
            contrastive_config(output_dim=0), {}, ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=16000)
        )


def test_per_clip_data_reproduces_every_score_and_pairs_two_encoders():
    config = contrastive_config()
    clips = {}
    for label, scramble in (("good", False), ("noise", True)):
        splits = synthetic_splits(1, scramble=scramble)
        result = run_retrieval_probe(
            config, splits, ProbeContext(seed=3, hop_size_in_ms=10, sampling_rate=16000)
        )
        entry = stats.combine_seeds([result], [3], config)
        clips[label] = stats.TestClips.from_json(entry["per_clip"])
        assert clips[label].keys == [s["key"] for s in splits["test"].samples]  # one item per clip
        assert stats.observed(clips[label], "mlp_score")[0] == pytest.approx(result.mlp_score)
        assert len(result.metrics) == 8  # recall@1/5/10 and mAP@10, both ways: every one reproduced
        for name, value in result.metrics.items():
            assert stats.observed(clips[label], name)[0] == pytest.approx(value), name
        names = ["mlp_score", *result.metrics]
        draws = stats.bootstrap(clips[label], names, resamples=200, seed=0)
        for name in names:
            value = stats.observed(clips[label], name)[0]
            low, high = stats.interval(draws[name], observed=value)
            assert low <= value <= high, name
    test = stats.paired_test(clips["good"], clips["noise"], "mlp_score", resamples=300)
    assert test.shared_clips == 32 and test.difference > 0.3 and test.p_value < 0.05


# ----- the offline task, end to end ---------------------------------------------------------------


def test_the_caption_generator_is_deterministic_and_clotho_shaped(tmp_path, monkeypatch):
    monkeypatch.setattr(captions, "SPLITS", {"train": 6, "valid": 2, "test": 3})
    captions.generate(tmp_path / "a", seed=4)
    captions.generate(tmp_path / "b", seed=4)
    captions.generate(tmp_path / "c", seed=5)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [f"{s}-00000{i}.tar" for s in ("test", "train", "valid") for i in (0, 1)]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a/train-000000.tar").read_bytes() != (tmp_path / "c/train-000000.tar").read_bytes()
    samples = [s for name in names for s in iter_shard(tmp_path / "a" / name)]
    assert len(samples) == 11
    for sample in samples:
        assert list(sample.meta) == [f"caption_{i}" for i in range(1, 6)]
        assert len(set(sample.meta.values())) == 5
        wave, rate = soundfile.read(io.BytesIO(sample.audio))
        assert sample.audio_ext == "flac" and rate == 16000 and 2.0 <= len(wave) / rate <= 4.0


@pytest.mark.slow
def test_offline_captions_task_mel_beats_random_and_chance(tmp_path):
    task = str(ROOT / "src/tasks/offline/captions_task.py")
    scores = {}
    for name in ("mel", "random"):
        encoder = str(ROOT / f"example/{name}/{name}_encoder.py")
        outcome = subprocess.run(
            [sys.executable, "-m", "xares.run", encoder, task, "--env-root", str(tmp_path / "env")]
            + ["--results", f"{name}.json"],
            cwd=tmp_path,
            # One intra-op thread: the scores do not depend on it, and on a machine busy with other
            # processes torch's spinning threads make this tiny model's training 5-30x slower.
            env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert outcome.returncode == 0, outcome.stdout + outcome.stderr
        (result,) = json.loads((tmp_path / f"{name}.json").read_text())["tasks"]
        assert result["status"] == "ok" and result["metric"] == "recallatk_r1"
        scores[name] = result
    mel, random = scores["mel"], scores["random"]
    clips = mel["num_test_clips"]
    texts = mel["folds"][0]["num_test_texts"]
    assert (clips, texts) == (80, 400)
    chance = (1 / clips + 5 / texts) / 2  # text -> audio, audio -> text (5 captions per clip)
    assert mel["folds"][0]["chance_score"] == pytest.approx(chance)
    assert mel["folds"][0]["tokenizer"].startswith("words")
    assert mel["mlp_score"] > 0.25 and mel["mlp_score"] > 10 * chance
    assert random["mlp_score"] < 4 * chance
    assert mel["mlp_score"] > 5 * max(random["mlp_score"], chance)
    for result in (mel, random):  # intervals over the test clips for the headline and every secondary score
        for name, score in result["scores"].items():
            assert score["ci95"][0] <= score["value"] <= score["ci95"][1], name


def test_a_tokenizer_fallback_is_a_recorded_deviation():
    """Clotho names bert-base-uncased; without it offline the word-level tokenizer is a deviation that
    the fold records (and XaresTask lifts into the task's `deviations`, marked in every view)."""
    from xares.task import XaresTask

    config = contrastive_config(pretrained_dependencies=["no-such-org/no-such-tokenizer:tokenizer"], epochs=2)
    result = run_retrieval_probe(
        config, synthetic_splits(0), ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=16000)
    )
    (fold,) = result.folds
    assert fold["deviation"] == (
        "word-level tokenizer in place of 'no-such-org/no-such-tokenizer' (not on this machine)"
    )
    task = XaresTask(config)
    task._apply_scores({"mlp_score": 0.5, "knn_score": None, "num_test_clips": 32, "folds": result.folds})
    assert task.result.deviations == [fold["deviation"]]
    words = contrastive_config(metric_args={"tokenizer": "words", "hidden_dim": 32}, epochs=2)
    (plain,) = run_retrieval_probe(
        words, synthetic_splits(0), ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=16000)
    ).folds
    assert "deviation" not in plain  # the task file asked for words: no deviation


def test_protocol_xares_0_1_3_trains_with_the_public_loss():
    """Upstream's loss by hand: raw dot products times exp(s), same-clip pairs as negatives, plus each
    modality's mean |x| / ||x||; under the published protocol the same batch gives the cosine loss."""
    import torch

    from xares.probes.retrieval import RetrievalModel, contrastive_loss, published_contrastive_loss

    model = RetrievalModel(4, 10, hidden=8, out=3)
    audio = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    text = torch.tensor([[1.0, 0.0, 1.0], [2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    clips = torch.tensor([0, 1, 1])  # texts 1 and 2 caption one clip
    logits = (1 / 0.07) * audio @ text.T
    nll = (
        -(torch.log_softmax(logits, 1).diagonal().mean() + torch.log_softmax(logits, 0).diagonal().mean()) / 2
    )
    expected = nll + audio.abs().mean() / audio.norm() + text.abs().mean() / text.norm()
    assert torch.isclose(published_contrastive_loss(model, audio, text, clips), expected, rtol=1e-5)
    assert not torch.isclose(contrastive_loss(model, audio, text, clips), expected)

    config = contrastive_config(metric_args={"tokenizer": "words", "hidden_dim": 32}, epochs=2)
    scores = {
        protocol: run_retrieval_probe(
            config,
            synthetic_splits(0),
            ProbeContext(seed=0, hop_size_in_ms=10, sampling_rate=16000, protocol=protocol),
        ).mlp_score
        for protocol in ("published", "xares-0.1.3")
    }
    assert scores["published"] != scores["xares-0.1.3"]
