"""ASR: the WER metric, CTC decoding, the CTC and LLM probes, and the offline task end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jiwer
import numpy as np
import pytest
from tiny_llm import tiny_llm

from xares import stats
from xares.errors import DataError, LabelError, TaskConfigError
from xares.metrics import get_metric
from xares.metrics.wer import wer_inv, word_error_rate
from xares.probes import ProbeContext, get_probe
from xares.probes.asr import (
    CharVocabulary,
    CtcSettings,
    Utterances,
    ctc_greedy_decode,
    ctc_min_frames,
    default_frame_stack,
    run_asr_probe,
    stack_frames,
    train_ctc_probe,
)
from xares.store import SplitEmbeddings
from xares.taskconfig import TaskConfig

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["cat", "dog", "sun", "red", "blue", "tree", "go", "see"]
LETTERS = sorted(set("".join(WORDS)) | {" "})


# ----- WER -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("hypotheses", "references"),
    [
        (["the cat sat", "a dog"], ["the cat sat down", "the dog"]),
        (["one two three four"], ["one too three"]),
        (["x  y", " z "], ["x y z", "z"]),
        (["completely wrong words here"], ["nothing matches"]),
    ],
)
def test_wer_equals_jiwer_corpus_wer(hypotheses, references):
    assert word_error_rate(hypotheses, references) == pytest.approx(jiwer.wer(references, hypotheses))


def test_wer_hand_computed_cases():
    assert wer_inv(["the cat sat"], ["the cat sat"]) == 1.0
    assert wer_inv(["The CAT  sat "], ["THE cat SAT"]) == 1.0  # case and spacing do not count
    # 1 substitution + 1 deletion over 5 reference words
    assert word_error_rate(["a b x", "d"], ["a b c", "d e"]) == pytest.approx(2 / 5)
    # an empty hypothesis deletes every reference word
    assert word_error_rate(["", "a b"], ["x y z", "a b"]) == pytest.approx(3 / 5)
    assert wer_inv([""], ["one two"]) == 0.0
    # an empty reference makes its hypothesis words insertions
    assert word_error_rate(["a b", "c"], ["a b", ""]) == pytest.approx(1 / 2)
    # more than 100 % WER clamps the score to 0
    assert word_error_rate(["a b c d e"], ["q"]) == pytest.approx(5.0)
    assert wer_inv(["a b c d e"], ["q"]) == 0.0
    assert get_metric("WER_inv").higher_is_better and get_metric("WER_inv").compute(["a"], ["a"]) == 1.0


def test_wer_refuses_what_it_cannot_score():
    with pytest.raises(ValueError, match="reference list is empty"):
        wer_inv([], [])
    with pytest.raises(ValueError, match="2 hypotheses and 1 references"):
        wer_inv(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="every one of the 2 references is empty"):
        word_error_rate(["a", "b"], ["", " "])
    with pytest.raises(TypeError, match="bare string"):
        wer_inv("a b", "a b")


# ----- CTC building blocks ----------------------------------------------------------------------------
def test_ctc_greedy_decoding_merges_repeats_and_drops_blanks():
    assert ctc_greedy_decode([0, 1, 1, 0, 1, 2, 2, 2, 0, 0, 3]) == [1, 1, 2, 3]
    assert ctc_greedy_decode([1, 1, 1]) == [1]
    assert ctc_greedy_decode([0, 0, 0]) == []
    assert ctc_greedy_decode([]) == []
    assert ctc_greedy_decode(np.array([2, 0, 2, 2, 1])) == [2, 2, 1]
    vocab = CharVocabulary.from_texts(["AB A", "b!"])
    assert vocab.chars == (" ", "!", "a", "b") and len(vocab) == 5
    assert vocab.encode("Ab  Z") == [3, 4, 1]  # lower-cased, single spaces, unseen "z" dropped
    assert vocab.decode(ctc_greedy_decode([3, 0, 3, 1, 1, 4, 0])) == "aa b"
    assert ctc_min_frames([1, 1, 2]) == 4 and ctc_min_frames([]) == 0


def test_frame_stacking():
    frames = np.arange(10, dtype=np.float32).reshape(5, 2)
    stacked = stack_frames(frames, 2)
    assert stacked.shape == (3, 4) and stacked[-1].tolist() == [8, 9, 8, 9]
    assert stack_frames(frames, 1) is frames
    assert [default_frame_stack(h) for h in (10, 15, 20, 40)] == [3, 2, 1, 1]


def synthetic_split(rng: np.random.Generator, count: int, prototypes: np.ndarray) -> SplitEmbeddings:
    """Each letter is a noisy prototype vector held 2-4 frames, then a silence frame."""
    clips, texts = [], []
    for _ in range(count):
        text = " ".join(rng.choice(WORDS, size=rng.integers(1, 4)))
        rows = []
        for char in text:
            rows += [prototypes[LETTERS.index(char)]] * int(rng.integers(2, 5)) + [np.zeros(16)]
        clips.append(np.asarray(rows) + 0.3 * rng.standard_normal((len(rows), 16)))
        texts.append(text.upper())
    return embeddings(clips, [{"trans": t} for t in texts])


def embeddings(clips: list[np.ndarray], metas: list[dict]) -> SplitEmbeddings:
    offsets = np.cumsum([0] + [len(c) for c in clips])
    return SplitEmbeddings(
        frames=np.concatenate(clips).astype(np.float16),
        offsets=offsets,
        pooled=np.stack([c.mean(0) for c in clips]).astype(np.float32),
        samples=[{"key": f"clip{i}", "shard": "mem.tar", "meta": m} for i, m in enumerate(metas)],
        manifest={},
    )


@pytest.fixture(scope="module")
def synthetic_splits() -> dict[str, SplitEmbeddings]:
    rng = np.random.default_rng(0)
    prototypes = 2 * rng.standard_normal((len(LETTERS), 16))
    return {
        name: synthetic_split(rng, n, prototypes) for name, n in (("train", 120), ("valid", 30), ("test", 30))
    }


def asr_task(**fields) -> TaskConfig:
    defaults = dict(
        name="synthetic_asr",
        task_type="asr",
        metric="WER_inv",
        metric_args={"decoder": "ctc"},
        criterion="CTCLoss",
        do_knn=False,
    )
    return TaskConfig(**{**defaults, **fields})


def test_ctc_head_learns_a_synthetic_sequence_task_deterministically(synthetic_splits):
    config = asr_task(
        epochs=15, learning_rate=1e-2, batch_size_train=16, metric_args={"decoder": "ctc", "hidden": 64}
    )
    first = get_probe("asr")(
        config, synthetic_splits, ProbeContext(seed=0, hop_size_in_ms=40, sampling_rate=16000)
    )
    assert first.mlp_score > 0.85 and first.knn_score is None and first.num_test_clips == 30
    (fold,) = first.folds
    assert fold["decoder"] == "ctc" and fold["frame_stack"] == 1 and fold["skipped_train"] == 0
    assert 0 <= fold["best_epoch"] < 15 and fold["valid_score"] > 0.85
    assert first.metrics["WER"] == pytest.approx(1 - first.mlp_score)
    assert fold["examples"][0]["reference"] == synthetic_splits["test"].samples[0]["meta"]["trans"]
    again = run_asr_probe(
        config, synthetic_splits, ProbeContext(seed=0, hop_size_in_ms=40, sampling_rate=16000)
    )
    assert again.mlp_score == first.mlp_score


def test_per_clip_data_reproduces_wer_and_pairs_two_encoders(synthetic_splits):
    config = asr_task(
        epochs=15, learning_rate=1e-2, batch_size_train=16, metric_args={"decoder": "ctc", "hidden": 64}
    )
    rng = np.random.default_rng(2)
    noise = {
        name: embeddings(
            [rng.standard_normal(data.clip_frames(i).shape) for i in range(len(data))],
            [s["meta"] for s in data.samples],
        )
        for name, data in synthetic_splits.items()
    }
    clips = {}
    for label, splits in (("good", synthetic_splits), ("noise", noise)):
        result = run_asr_probe(config, splits, ProbeContext(seed=0, hop_size_in_ms=40, sampling_rate=16000))
        entry = stats.combine_seeds([result], [0], config)
        clips[label] = stats.TestClips.from_json(entry["per_clip"])
        assert clips[label].keys == [f"clip{i}" for i in range(30)]
        assert stats.observed(clips[label], "mlp_score")[0] == pytest.approx(result.mlp_score)
        assert stats.observed(clips[label], "WER")[0] == pytest.approx(result.metrics["WER"])
        draws = stats.bootstrap(clips[label], ["mlp_score", "WER"], resamples=200, seed=0)
        for name, value in (("mlp_score", result.mlp_score), ("WER", result.metrics["WER"])):
            low, high = stats.interval(draws[name], observed=value)
            assert low <= value <= high, name
    test = stats.paired_test(clips["good"], clips["noise"], "mlp_score", resamples=300)
    assert test.shared_clips == 30 and test.difference > 0.3 and test.p_value < 0.05


def test_ctc_skips_clips_too_short_for_their_transcript(synthetic_splits, caplog):
    rng = np.random.default_rng(1)
    short = [rng.standard_normal((2, 16)) for _ in range(3)]
    metas = [{"trans": "A LONG TRANSCRIPT"}] * 3
    train = synthetic_splits["train"]
    clips = [np.asarray(train.clip_frames(i), dtype=np.float32) for i in range(len(train))]
    mixed = embeddings(clips + short, [s["meta"] for s in train.samples] + metas)
    settings = CtcSettings(epochs=2, learning_rate=1e-2, batch_size=16, seed=0, hidden=16)
    test = Utterances.of(
        [synthetic_splits["test"]], [[s["meta"]["trans"] for s in synthetic_splits["test"].samples]]
    )
    texts = [s["meta"]["trans"] for s in mixed.samples]
    outcome = train_ctc_probe(Utterances.of([mixed], [texts]), None, test, settings)
    assert outcome.skipped_train == 3 and "3 of 123 training clips" in caplog.text
    only_short = Utterances.of([embeddings(short, metas)], [["A LONG TRANSCRIPT"] * 3])
    with pytest.raises(DataError, match="cannot align any of the 3"):
        train_ctc_probe(only_short, None, test, settings)


def test_asr_probe_refuses_bad_transcripts_and_options(synthetic_splits):
    broken = dict(synthetic_splits, test=embeddings([np.zeros((5, 16))], [{"text": "no trans key"}]))
    with pytest.raises(LabelError, match="sample 'clip0'.*transcript"):
        run_asr_probe(
            asr_task(epochs=1), broken, ProbeContext(seed=0, hop_size_in_ms=40, sampling_rate=16000)
        )
    with pytest.raises(TaskConfigError, match="'whisper' is not one of"):
        run_asr_probe(
            asr_task(metric_args={"decoder": "whisper"}),
            synthetic_splits,
            ProbeContext(seed=0, hop_size_in_ms=40, sampling_rate=16000),
        )
    with pytest.raises(TaskConfigError, match="hiden"):
        run_asr_probe(
            asr_task(metric_args={"hiden": 3}),
            synthetic_splits,
            ProbeContext(seed=0, hop_size_in_ms=40, sampling_rate=16000),
        )


# ----- the public protocol with a tiny local LM -------------------------------------------------------
def test_llm_decoder_trains_the_adapter_and_generates(synthetic_splits, tmp_path):
    pytest.importorskip("transformers")
    from xares.probes.asr import LlmDecoder, LlmSettings, SwiGLUAdapter, load_llm

    llm = str(tiny_llm(tmp_path / "tiny-qwen", WORDS))
    small = {name: embeddings(*_head(data, 8)) for name, data in synthetic_splits.items()}
    config = asr_task(
        epochs=1, batch_size_train=4, metric_args={"decoder": "qwen", "llm": llm, "max_new_tokens": 8}
    )
    result = run_asr_probe(config, small, ProbeContext(seed=0, hop_size_in_ms=40, sampling_rate=16000))
    (fold,) = result.folds
    assert fold["decoder"] == "qwen" and fold["best_epoch"] == 0 and result.num_test_clips == 8
    assert 0.0 <= result.mlp_score <= 1.0 and all(isinstance(e["hypothesis"], str) for e in fold["examples"])

    # the LM stays frozen, only the adapter (D -> intermediate x 2 -> hidden) learns
    model, tokenizer = load_llm(llm, "cpu")
    adapter = SwiGLUAdapter(16, model.config.intermediate_size, model.config.hidden_size)
    assert adapter.gate.out_features == 48 and adapter.down.out_features == 32
    assert not any(p.requires_grad for p in model.parameters())
    settings = LlmSettings(epochs=1, learning_rate=1e-3, batch_size=4, seed=0, llm=llm, max_new_tokens=5)
    decoder = LlmDecoder(model, tokenizer, adapter, settings)
    train = Utterances.of([small["train"]], [[s["meta"]["trans"] for s in small["train"].samples]])
    output, ids, mask = decoder.forward(train, [0, 1])
    assert ids[:, 0].tolist() == [decoder.separator] * 2 and output.loss.isfinite()
    output.loss.backward()
    assert adapter.gate.weight.grad is not None
    assert len(decoder.generate(train.subset([0, 1, 2]))) == 3

    with pytest.raises(TaskConfigError, match="not on this machine"):
        load_llm(str(tmp_path / "absent-model"), "cpu")


def _head(data: SplitEmbeddings, count: int) -> tuple[list[np.ndarray], list[dict]]:
    clips = [np.asarray(data.clip_frames(i), dtype=np.float32) for i in range(count)]
    return clips, [s["meta"] for s in data.samples[:count]]


# ----- the offline task end to end --------------------------------------------------------------------
def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "xares.run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_offline_asr_task_separates_the_mel_encoder_from_the_random_one(tmp_path):
    task = str(ROOT / "src/tasks/offline/asr_task.py")
    scores = {}
    for encoder in ("mel/mel_encoder.py", "random/random_encoder.py"):
        name = Path(encoder).parent.name
        outcome = run_cli(
            [str(ROOT / "example" / encoder), task, "--env-root", "env", "--results", f"{name}.json"],
            tmp_path,
        )
        assert outcome.returncode == 0, outcome.stdout + outcome.stderr
        (result,) = json.loads((tmp_path / f"{name}.json").read_text())["tasks"]
        assert result["status"] == "ok" and result["knn_score"] is None and result["num_test_clips"] >= 50
        scores[name] = result["mlp_score"]
        for score in ("mlp_score", "WER"):  # intervals over the test utterances
            low, high = result["scores"][score]["ci95"]
            assert low <= result["scores"][score]["value"] <= high
    print(f"offline ASR WER_inv: mel {scores['mel']:.3f}, random {scores['random']:.3f}")
    assert scores["mel"] > scores["random"] + 0.2
    assert scores["random"] < 0.1


# ----- the published protocol by default, CTC only when chosen ----------------------------------------
def librispeech_config(env_root: Path) -> TaskConfig:
    from xares.task import load_task_config

    return load_task_config(ROOT / "src/tasks/librispeech_asr_task.py", None, env_root=env_root)


def test_librispeech_runs_the_published_llm_decoder_and_says_what_to_do_without_it(tmp_path, monkeypatch):
    from xares.probes.asr import DEFAULT_DECODER, DEFAULT_LLM, require_decoder
    from xares.task import XaresTask

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-cache"))  # no cached Qwen2.5 here
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = librispeech_config(tmp_path / "env")
    assert DEFAULT_DECODER == "qwen" and config.metric_args.get("decoder", DEFAULT_DECODER) == "qwen"
    with pytest.raises(TaskConfigError) as error:
        require_decoder(config)
    message = str(error.value)
    assert DEFAULT_LLM in message and "hf download" in message and "--asr-decoder ctc" in message
    # the run stops before acquiring or encoding anything (LibriSpeech is 100 hours of audio)
    with pytest.raises(TaskConfigError, match="--asr-decoder ctc"):
        XaresTask(config).run()
    assert not (tmp_path / "env").exists()


def test_the_ctc_head_on_a_published_task_is_a_recorded_deviation(tmp_path):
    from xares.probes.asr import require_decoder
    from xares.task import RunOptions, XaresTask

    task = XaresTask(librispeech_config(tmp_path), options=RunOptions(asr_decoder="ctc"))
    assert task.config.metric_args["decoder"] == "ctc"
    assert task.result.deviations == ["ASR decoder 'ctc' in place of the task file's 'qwen' (--asr-decoder)"]
    require_decoder(task.config)  # nothing to load: passes offline
    # the offline task file chooses CTC itself: the same option there is no deviation
    from xares.task import load_task_config

    offline = load_task_config(ROOT / "src/tasks/offline/asr_task.py", None, env_root=tmp_path)
    assert XaresTask(offline, options=RunOptions(asr_decoder="ctc")).result.deviations == []
    assert XaresTask(offline, options=RunOptions(asr_decoder="qwen")).result.deviations == [
        "ASR decoder 'qwen' in place of the task file's 'ctc' (--asr-decoder)"
    ]
    with pytest.raises(ValueError, match="asr_decoder must be one of"):
        XaresTask(offline, options=RunOptions(asr_decoder="whisper"))


def test_asr_decoder_option_through_the_command_line(tmp_path):
    """--asr-decoder qwen on the offline task, with no LM here: the task fails at once with the fix,
    and results.json records the option and the deviation."""
    env = {**os.environ, "HF_HOME": str(tmp_path / "empty-hf-cache"), "HF_HUB_OFFLINE": "1"}
    task = str(ROOT / "src/tasks/offline/asr_task.py")
    args = [str(ROOT / "example/mel/mel_encoder.py"), task, "--env-root", "env", "--results", "r.json"]
    outcome = subprocess.run(
        [sys.executable, "-m", "xares.run", *args, "--asr-decoder", "qwen"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert outcome.returncode == 1, outcome.stdout + outcome.stderr
    document = json.loads((tmp_path / "r.json").read_text())
    (result,) = document["tasks"]
    assert document["run"]["asr_decoder"] == "qwen" and result["status"] == "failed"
    assert "--asr-decoder ctc" in result["error"] and "hf download" in result["error"]
    assert result["deviations"] == ["ASR decoder 'qwen' in place of the task file's 'ctc' (--asr-decoder)"]
    assert not (tmp_path / "env" / "offline_asr").exists()  # nothing generated or encoded
