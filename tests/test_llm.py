"""The LLM track (xares.llm): answers as data, the schedule and the mixture, the generated-text block in
results.json, and the point of the design: training and generation read the store and never call the
encoder. The language model is a tiny random Llama written to a temporary folder (no download)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("transformers")
pytest.importorskip("peft")

from toy_data import make_task_file  # noqa: E402

from xares import stats  # noqa: E402
from xares.encoder import describe_encoder, load_encoder  # noqa: E402
from xares.errors import LabelError, TaskConfigError  # noqa: E402
from xares.llm.answers import load_answers, parse_answers  # noqa: E402
from xares.llm.protocol import learning_rate_at, offline_settings, published_settings  # noqa: E402
from xares.llm.results import validate_llm_block  # noqa: E402
from xares.llm.run import run_llm  # noqa: E402
from xares.llm.train import Mixture, TaskData  # noqa: E402
from xares.metrics.generated import normalise_text  # noqa: E402
from xares.report import load_results  # noqa: E402
from xares.store import SplitEmbeddings  # noqa: E402

MEL = Path(__file__).resolve().parents[1] / "example" / "mel" / "mel_encoder.py"
TOY_ANSWERS = {
    "task": "toy",
    "prompt": "Classify the tone.",
    "key": "label",
    "metric": "Accuracy",
    "prob": 1,
    "train": ["train"],
    "test": ["test"],
}


@pytest.fixture
def toy(tmp_path: Path) -> dict:
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "toy.json").write_text(json.dumps(TOY_ANSWERS))
    return {
        "task": make_task_file(tmp_path),
        "answers": answers,
        "env": tmp_path / "env",
        "results": tmp_path / "results.json",
    }


def _run(toy: dict, encoder, **options):
    return run_llm(
        encoder,
        [toy["task"]],
        env_root=toy["env"],
        llm="tiny-random",
        steps=options.pop("steps", 3),
        answers_dir=toy["answers"],
        results_path=toy["results"],
        resamples=options.pop("resamples", 50),
        **options,
    )


def test_training_and_generation_never_call_the_encoder(toy):
    encoder = load_encoder(str(MEL))
    info = describe_encoder(encoder, str(MEL))
    _run(toy, encoder, encoder_info=info)  # the encode stage fills the store

    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("the encoder ran after encoding")

    encoder.forward = refuse
    block = _run(toy, encoder, encoder_info=info, steps=4)
    assert calls == []
    assert block["training"]["steps"] == 4 and block["steps"] == 4
    assert block["tasks"][0]["status"] == "ok" and block["tasks"][0]["num_test_clips"] == 18


def test_the_block_is_in_results_json_with_per_clip_records(toy):
    block = _run(toy, str(MEL))
    validate_llm_block(block)
    document = load_results(toy["results"])  # a valid results.json, read by the report
    stored = json.loads(toy["results"].read_text())["llm"]
    assert stored["protocol"] == "xares-llm" and stored["configuration"] == "offline"
    assert stored["llm"]["source"] == "tiny-random" and stored["llm"]["is_published_llm"] is False
    assert stored["llm"]["published_llm"] == "HuggingFaceTB/SmolLM2-135M"
    # the stand-in has a word per token, taught from the training answers, and trains on one thread
    assert "word tokenizer" in stored["llm"]["name"] and stored["training"]["torch_threads"] == 1
    assert stored["lora"] == {
        "r": 8,
        "alpha": 32,
        "dropout": 0.1,
        "target_modules": "all-linear",
        "bias": "none",
    }
    task = stored["tasks"][0]
    clips = stats.TestClips.from_json(task["per_clip"])
    assert len(clips) == task["num_test_clips"] == len(task["generated"]) == 18
    assert stats.observed(clips, "mlp_score")[0] == pytest.approx(task["score"])
    assert stored["overall"]["score"] == pytest.approx(task["score"])
    assert document["encoder"]["name"]


def test_the_block_replaces_an_earlier_one_and_keeps_the_document(toy):
    _run(toy, str(MEL), steps=2)
    first = json.loads(toy["results"].read_text())
    first["tasks_marker"] = "kept"
    toy["results"].write_text(json.dumps(first))
    _run(toy, str(MEL), steps=3)
    second = json.loads(toy["results"].read_text())
    assert second["tasks_marker"] == "kept" and second["llm"]["steps"] == 3


def test_tasks_without_answers_are_skipped_with_the_reason(toy, tmp_path):
    other = make_task_file(tmp_path, "toy_two")
    block = run_llm(
        str(MEL),
        [toy["task"], other],
        env_root=toy["env"],
        llm="tiny-random",
        steps=2,
        answers_dir=toy["answers"],
        results_path=False,
        resamples=0,
    )
    assert [s["name"] for s in block["skipped"]] == ["toy_two"]
    assert "no answers file" in block["skipped"][0]["reason"]


def test_a_missing_metric_is_reported_missing_not_replaced(toy):
    (toy["answers"] / "toy.json").write_text(json.dumps({**TOY_ANSWERS, "metric": "FENSE"}))
    block = _run(toy, str(MEL), steps=2)
    task = block["tasks"][0]
    assert task["status"] == "missing" and task["score"] is None and "Sentence-BERT" in task["reason"]
    assert block["overall"]["score"] is None and block["overall"]["missing"] == ["toy"]


# ----- answers as data ---------------------------------------------------------------------------------
def test_every_shipped_answers_file_is_valid_and_names_its_task():
    folder = Path(__file__).resolve().parents[1] / "src" / "xares" / "llm" / "answers"
    names = sorted(p.stem for p in folder.glob("*.json"))
    assert "offline_keywords" in names
    for name in names:
        assert load_answers(name).task == name


def test_answers_files_fail_with_the_file_and_the_fix():
    with pytest.raises(TaskConfigError, match=r"x\.json: missing field\(s\) \['prob'"):
        parse_answers({k: v for k, v in TOY_ANSWERS.items() if k != "prob"}, "x.json")
    with pytest.raises(TaskConfigError, match="unknown field"):
        parse_answers({**TOY_ANSWERS, "promt": "typo"}, "x.json")
    answers = parse_answers(TOY_ANSWERS, "x.json")
    with pytest.raises(LabelError, match=r"sample 'k'.*fields present: \['other'\]"):
        answers.texts({"other": 1}, where="sample 'k'")


def test_the_first_present_key_gives_the_answer_and_numbers_become_text():
    answers = parse_answers({**TOY_ANSWERS, "key": "text;label"}, "x.json")
    assert answers.texts({"label": "dog"}, where="") == ["dog"]
    assert answers.texts({"text": "", "label": 2}, where="") == ["2"]
    assert answers.texts({"text": ["a cat", "the cat"]}, where="") == ["a cat", "the cat"]


@given(st.text(max_size=30))
def test_normalisation_is_idempotent_and_ignores_case_and_punctuation(text):
    once = normalise_text(text)
    assert normalise_text(once) == once
    assert normalise_text(text.upper() + "!?") == normalise_text(text.upper())


# ----- schedule and mixture ----------------------------------------------------------------------------
def test_the_schedule_warms_up_then_decays_linearly_to_zero():
    settings = published_settings()
    assert learning_rate_at(settings, 0) == 0.0
    assert learning_rate_at(settings, 500) == pytest.approx(0.5e-4)
    assert learning_rate_at(settings, 1000) == pytest.approx(1e-4)
    assert learning_rate_at(settings, 50_500) == pytest.approx(0.5e-4)
    assert learning_rate_at(settings, 100_000) == pytest.approx(0.0)
    assert offline_settings().max_steps < settings.max_steps


def _task(name: str, prob: float, clips: int) -> TaskData:
    frames = np.arange(clips * 2 * 3, dtype=np.float32).reshape(clips * 2, 3)
    split = SplitEmbeddings(
        frames=frames,
        offsets=np.arange(0, clips * 2 + 1, 2),
        pooled=np.zeros((clips, 3), np.float32),
        samples=[{"key": str(i)} for i in range(clips)],
        manifest={},
    )
    return TaskData(name, "p", prob, [split], [(0, i, f"{name}{i}") for i in range(clips)])


def test_the_mixture_draws_tasks_by_their_prob_and_every_clip_once_per_pass():
    mixture = Mixture([_task("a", 1, 10), _task("b", 3, 10)], seed=0, max_frames=None)
    drawn = mixture.draw(4000)
    share_b = np.mean([task == 1 for task, _, _ in drawn])
    assert 0.72 < share_b < 0.78
    fresh = Mixture([_task("a", 1, 10)], seed=1, max_frames=None)
    assert sorted(text for _, _, text in fresh.draw(10)) == sorted(f"a{i}" for i in range(10))


def test_clips_longer_than_the_crop_are_cut_to_it():
    mixture = Mixture([_task("a", 1, 4)], seed=0, max_frames=1)
    assert all(len(frames) == 1 for _, frames, _ in mixture.draw(8))


def test_the_report_views_show_the_llm_block_beside_the_probes(toy):
    from xares.report import render

    _run(toy, str(MEL), steps=2, resamples=0)
    document = load_results(toy["results"])
    document["llm"] = json.loads(toy["results"].read_text())["llm"]
    markdown = render([document], "markdown")
    assert "LLM track (generated text)" in markdown and "| toy | Accuracy |" in markdown
    assert "stand-in for HuggingFaceTB/SmolLM2-135M" in markdown
    page = render([document], "html", resamples=0)
    assert "<h2>LLM track (generated text)</h2>" in page and "<td>toy</td><td>Accuracy</td>" in page
    assert "stand-in for HuggingFaceTB/SmolLM2-135M" in page


def test_compare_pairs_the_llm_scores_clip_by_clip(toy):
    from xares.llm.evaluate import score_texts
    from xares.report.compare import compare_files, comparison_markdown

    _run(toy, str(MEL), steps=2, resamples=0)
    base = load_results(toy["results"])
    references = ["low", "mid", "high"] * 10
    keys = [f"clip{i}" for i in range(30)]

    def document(generated: list[str]) -> dict:
        entry = {"name": "toy", "metric": "Accuracy", "status": "ok"}
        entry.update(
            score_texts("text_accuracy", generated, references, keys, seed=42, fold_name="test", task="toy")
        )
        block = {"configuration": "offline", "steps": 2, "seed": 42, "llm": {"name": "m", "revision": "r"}}
        return {**base, "llm": {**block, "tasks": [entry]}}

    good = document(references)
    bad = document(["low"] * 30)
    rows, labels, notes = compare_files([good, bad], resamples=200)
    llm = [r for r in rows if r.probe == "llm"]
    assert [r.name for r in llm] == ["toy"] and llm[0].reported_a == 1.0
    assert llm[0].test is not None and llm[0].significant
    assert "LLM track" in comparison_markdown(rows, labels, notes)
    from xares.report.html import comparison_html

    assert "<h3>LLM track</h3>" in comparison_html([good, bad], resamples=200)


def test_the_stand_in_lm_learns_class_words_from_stored_frames():
    """Training really trains: four separable classes of stored frames, answered as words."""
    import torch

    from xares.llm.lm import load_language_model
    from xares.llm.model import AudioLlm
    from xares.llm.train import train_llm

    rng = np.random.default_rng(0)
    names = ["dog", "cat", "bird", "fish"]
    labels = rng.integers(0, 4, 240)
    lengths = rng.integers(5, 12, len(labels))
    frames = [rng.normal(size=(n, 16)).astype(np.float32) for n in lengths]
    for clip, label in zip(frames, labels, strict=True):
        clip[:, label] += 3.0
    split = SplitEmbeddings(
        frames=np.concatenate(frames),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        pooled=np.zeros((len(labels), 16), np.float32),
        samples=[{"key": str(i)} for i in range(len(labels))],
        manifest={},
    )
    task = TaskData("t", "Classify.", 1.0, [split], [(0, i, names[k]) for i, k in enumerate(labels)])
    lm = load_language_model("tiny-random")
    torch.manual_seed(42)
    model = AudioLlm(lm.model, lm.tokenizer, 16, offline_settings().lora)
    report = train_llm(
        model, [task], offline_settings().replace(max_steps=120, warmup_steps=12), hop_size_in_ms=40
    )
    assert report.losses[-1] < 0.2 * report.losses[0]
    answers = model.generate(
        [split.clip_frames(i) for i in range(40)],
        [model.prompt_ids("Classify.")] * 40,
        max_new_tokens=8,
        repetition_penalty=1.05,
    )
    assert np.mean([a == names[k] for a, k in zip(answers, labels[:40], strict=True)]) > 0.9


_WORD_TOKENIZER: dict[str, object] = {}


def _word_stand_in(texts: list[str]):
    """One word-tokenizer stand-in per vocabulary (writing a model folder each example would be slow)."""
    from xares.llm.lm import load_language_model, vocabulary_words

    words = tuple(vocabulary_words(texts))
    if words not in _WORD_TOKENIZER:
        _WORD_TOKENIZER[words] = load_language_model("tiny-random", words=words)
    return _WORD_TOKENIZER[words]


_ANSWERS = ["dog barking", "Church_bells", "2", "hi-hat; snare", "Hello, world.", "violin"]


@settings(deadline=None)  # the first example writes and loads the model
@given(st.lists(st.sampled_from(_ANSWERS), min_size=1, max_size=4))
def test_the_word_stand_in_gives_back_every_answer_it_was_taught(texts):
    """Answers are a token per word, and decoding the tokens gives the answer back after the published
    normalisation (what the scores compare)."""
    from tokenizers.pre_tokenizers import Whitespace

    lm = _word_stand_in(_ANSWERS + ["Classify the sound."])
    for text in texts:
        ids = lm.tokenizer(text + lm.tokenizer.eos_token)["input_ids"]
        assert ids[-1] == lm.tokenizer.eos_token_id
        assert len(ids) - 1 == len(Whitespace().pre_tokenize_str(text))  # a token per word or mark
        decoded = lm.tokenizer.decode(ids, skip_special_tokens=True)
        assert normalise_text(decoded) == normalise_text(text)


def test_the_word_stand_in_cannot_write_a_word_it_was_not_taught():
    lm = _word_stand_in(["dog barking", "Classify the sound."])
    ids = lm.tokenizer("cat barking")["input_ids"]
    assert ids[0] == lm.tokenizer.unk_token_id
    assert normalise_text(lm.tokenizer.decode(ids, skip_special_tokens=True)) == "barking"
    assert "word tokenizer" in lm.name and lm.describe()["vocabulary_size"] == len(lm.tokenizer)
