"""The offline generators: shards in the upstream format, the promised counts, labels and rates,
speakers unseen across splits, and the same bytes from the same seed in another process.

The generators run once per module in this process while a second process generates the same
seed alongside (so the determinism check costs no extra wall time on two cores).
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile

import xares
from xares.data.offline import espeak, keywords, languages, mixtures, notes, sound_classes, speaker_count
from xares.data.shards import RawSample, decode_audio, iter_shard
from xares.errors import DataError

GENERATORS = {
    "keywords": keywords,
    "sound_classes": sound_classes,
    "mixtures": mixtures,
    "speaker_count": speaker_count,
    "languages": languages,
    "notes": notes,
}
SECOND_RUN = (
    "import importlib, sys\n"
    "from pathlib import Path\n"
    "for name in sys.argv[2:]:\n"
    "    importlib.import_module('xares.data.offline.' + name).generate(Path(sys.argv[1]) / name, seed=0)\n"
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first, second = tmp_path_factory.mktemp("offline_a"), tmp_path_factory.mktemp("offline_b")
    env = dict(os.environ)
    src = str(Path(xares.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    other = subprocess.Popen(
        [sys.executable, "-c", SECOND_RUN, str(second), *GENERATORS],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for name, module in GENERATORS.items():
            module.generate(first / name, seed=0)
    finally:
        _, err = other.communicate(timeout=300)
    assert other.returncode == 0, err.decode()
    return first, second


def read_dir(directory: Path, pattern: str) -> list[RawSample]:
    return [sample for shard in sorted(directory.glob(pattern)) for sample in iter_shard(shard)]


def native(sample: RawSample) -> soundfile._SoundFileInfo:
    return soundfile.info(io.BytesIO(sample.audio))


def test_only_shards_are_written(runs: tuple[Path, Path]) -> None:
    first, _ = runs
    assert sorted(p.name for p in (first / "keywords").iterdir()) == [
        "test-000000.tar",
        "train-000000.tar",
        "train-000001.tar",
        "valid-000000.tar",
    ]
    assert sorted(p.name for p in (first / "sound_classes").iterdir()) == [
        f"wds-audio-fold-{k}-000000.tar" for k in range(1, 6)
    ]
    for name in ("mixtures", "speaker_count", "languages", "notes"):
        assert sorted(p.name for p in (first / name).iterdir()) == [
            "test-000000.tar",
            "train-000000.tar",
            "valid-000000.tar",
        ]


def test_same_seed_gives_identical_bytes_in_another_process(runs: tuple[Path, Path]) -> None:
    first, second = runs

    def digests(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.tar"))
        }

    assert digests(first) == digests(second)
    assert len(digests(first)) == 21


def test_keywords_counts_labels_and_audio(runs: tuple[Path, Path]) -> None:
    directory = runs[0] / "keywords"
    speakers = {split: {s.voice for s in group} for split, group in keywords.speakers_by_split(0).items()}
    expected = {"train": 600, "valid": 120, "test": 180}
    for split, count in expected.items():
        samples = read_dir(directory, f"{split}*.tar")
        assert len(samples) == count
        assert len({s.key for s in samples}) == count
        words = Counter(s.meta["label"] for s in samples)
        assert set(words) == set(keywords.WORDS)
        assert set(words.values()) == {count // len(keywords.WORDS)}
        assert {s.meta["speaker"] for s in samples} <= speakers[split]
        for sample in samples[:: max(1, count // 40)]:
            info = native(sample)
            assert (sample.audio_ext, info.format, info.subtype) == ("flac", "FLAC", "PCM_16")
            assert (info.samplerate, info.frames, info.channels) == (16000, 16000, 1)
            wave = decode_audio(sample, 16000)
            assert wave.shape == (16000,) and 0.05 < np.max(np.abs(wave)) <= 1.0


def test_keyword_speakers_are_disjoint_across_splits(runs: tuple[Path, Path]) -> None:
    by_split = keywords.speakers_by_split(0)
    voices = {split: {s.voice for s in group} for split, group in by_split.items()}
    variants = {split: {v.split("+")[1] for v in group} for split, group in voices.items()}
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        assert not voices[a] & voices[b]
        assert not variants[a] & variants[b]  # not even the same voice quality with another accent
    heard = {
        split: {s.meta["speaker"] for s in read_dir(runs[0] / "keywords", f"{split}*.tar")}
        for split in voices
    }
    assert not heard["train"] & heard["test"] and not heard["train"] & heard["valid"]
    assert len(heard["test"]) >= 10  # the test set is many speakers, not one or two


def test_sound_classes_folds_balance_and_audio(runs: tuple[Path, Path]) -> None:
    directory = runs[0] / "sound_classes"
    names = sound_classes.CLASSES
    assert len(names) == 10
    keys = set()
    for fold in range(1, 6):
        samples = read_dir(directory, f"wds-audio-fold-{fold}-*.tar")
        assert len(samples) == 80
        keys |= {s.key for s in samples}
        labels = Counter(s.meta["label"] for s in samples)
        assert labels == {index: 8 for index in range(len(names))}
        for sample in samples:
            assert isinstance(sample.meta["label"], int)
            assert sample.meta["category"] == names[sample.meta["label"]]
        for sample in samples[::8]:
            info = native(sample)
            assert (sample.audio_ext, info.format, info.subtype) == ("wav", "WAV", "PCM_16")
            assert (info.samplerate, info.frames) == (44100, 88200)
            wave = decode_audio(sample, 16000)
            assert wave.shape == (32000,) and np.max(np.abs(wave)) > 0.01
    assert len(keys) == 400


def test_mixtures_counts_labels_and_audio(runs: tuple[Path, Path]) -> None:
    directory = runs[0] / "mixtures"
    for split, count in {"train": 360, "valid": 90, "test": 120}.items():
        samples = read_dir(directory, f"{split}*.tar")
        assert len(samples) == count
        present = Counter()
        sizes = Counter()
        for sample in samples:
            names = sample.meta["soundevent"].split(";")
            assert 1 <= len(names) <= 3 and len(set(names)) == len(names)
            assert set(names) <= set(mixtures.CLASSES)
            assert names == sorted(names, key=mixtures.CLASSES.index)
            present.update(names)
            sizes[len(names)] += 1
        assert set(present) == set(mixtures.CLASSES)
        assert min(present.values()) >= count // 10  # every class is well represented in every split
        assert set(sizes) == {1, 2, 3}
        for sample in samples[:: max(1, count // 20)]:
            info = native(sample)
            assert (sample.audio_ext, info.format, info.subtype) == ("flac", "FLAC", "PCM_16")
            assert (info.samplerate, info.frames) == (22050, 66150)
            wave = decode_audio(sample, 16000)
            assert wave.shape == (48000,) and np.max(np.abs(wave)) > 0.01
    assert len(mixtures.CLASSES) == 8 and set(mixtures.CLASSES) <= set(sound_classes.CLASSES)


def test_speaker_count_counts_labels_and_audio(runs: tuple[Path, Path]) -> None:
    directory = runs[0] / "speaker_count"
    by_split = speaker_count.speakers_by_split(0)
    for split, per_count in speaker_count.CLIPS_PER_COUNT.items():
        samples = read_dir(directory, f"{split}*.tar")
        assert len(samples) == 4 * per_count and len({s.key for s in samples}) == len(samples)
        counts = Counter(s.meta["num_speakers"] for s in samples)
        assert counts == {n: per_count for n in range(1, 5)}  # balanced: guessing scores 0.25
        known = {speaker.voice for group in by_split[split].values() for speaker in group}
        for sample in samples:
            voices = sample.meta["speakers"].split(";")
            assert isinstance(sample.meta["num_speakers"], int) and len(voices) == sample.meta["num_speakers"]
            assert set(voices) <= known
            assert len({v.split("+")[1] for v in voices}) == len(voices)  # different voice qualities
        for sample in samples[:: max(1, len(samples) // 30)]:
            info = native(sample)
            assert (sample.audio_ext, info.format, info.subtype) == ("flac", "FLAC", "PCM_16")
            assert (info.samplerate, info.frames, info.channels) == (16000, 64000, 1)
            wave = decode_audio(sample, 16000)
            assert wave.shape == (64000,) and 0.05 < np.max(np.abs(wave)) <= 1.0


def test_speaker_count_voices_are_disjoint_across_splits(runs: tuple[Path, Path]) -> None:
    variants = {split: set(group) for split, group in speaker_count.speakers_by_split(0).items()}
    assert all(len(group) >= speaker_count.MAX_SPEAKERS for group in variants.values())
    heard = {
        split: {
            voice.split("+")[1]
            for s in read_dir(runs[0] / "speaker_count", f"{split}*.tar")
            for voice in s.meta["speakers"].split(";")
        }
        for split in variants
    }
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        assert not variants[a] & variants[b]
        assert not heard[a] & heard[b]
    assert heard["test"] == variants["test"]  # every test variant is used


def test_languages_counts_labels_and_audio(runs: tuple[Path, Path]) -> None:
    directory = runs[0] / "languages"
    codes = languages.LANGUAGES
    upstream = (
        (Path(xares.__file__).resolve().parents[1] / "tasks/labels/voxlingua33.txt").read_text().split()
    )
    assert len(codes) == 8 and set(codes) <= set(upstream)  # the public task's language codes
    for split, per_language in languages.CLIPS_PER_LANGUAGE.items():
        samples = read_dir(directory, f"{split}*.tar")
        assert len(samples) == len(codes) * per_language and len({s.key for s in samples}) == len(samples)
        assert Counter(s.meta["labels"] for s in samples) == {code: per_language for code in codes}
        for sample in samples:
            voice = sample.meta["speaker"]
            assert voice.split("+")[0] == sample.meta["labels"]
            assert voice.split("+")[1] in keywords.VARIANTS_BY_SPLIT[split]
            # the text is digits only: it says nothing about the language it is read in
            assert set(sample.meta["text"]) <= set("0123456789, ")
        for sample in samples[:: max(1, len(samples) // 30)]:
            info = native(sample)
            assert (sample.audio_ext, info.format, info.subtype) == ("flac", "FLAC", "PCM_16")
            assert (info.samplerate, info.frames, info.channels) == (16000, 48000, 1)
            wave = decode_audio(sample, 16000)
            assert wave.shape == (48000,) and 0.05 < np.max(np.abs(wave)) <= 1.0


def test_language_voices_are_disjoint_across_splits(runs: tuple[Path, Path]) -> None:
    heard = {
        split: {s.meta["speaker"] for s in read_dir(runs[0] / "languages", f"{split}*.tar")}
        for split in languages.CLIPS_PER_LANGUAGE
    }
    variants = {split: {v.split("+")[1] for v in voices} for split, voices in heard.items()}
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        assert not heard[a] & heard[b]
        assert not variants[a] & variants[b]
    # every language is spoken by several test voices, never by one alone
    assert min(Counter(v.split("+")[0] for v in heard["test"]).values()) >= 3


def test_notes_counts_labels_and_audio(runs: tuple[Path, Path]) -> None:
    directory = runs[0] / "notes"
    instruments = {split: {i.name for i in group} for split, group in notes.make_instruments(0).items()}
    heard = {}
    for split, count in notes.NOTES_PER_SPLIT.items():
        samples = read_dir(directory, f"{split}*.tar")
        assert len(samples) == count and len({s.key for s in samples}) == count
        pitches = np.array([s.meta["pitch"] for s in samples])
        assert all(isinstance(s.meta["pitch"], int) for s in samples)
        assert pitches.min() >= notes.PITCH_LOW and pitches.max() <= notes.PITCH_HIGH
        assert len(set(pitches.tolist())) > 30  # the range is covered, not a few notes
        assert all(40 <= s.meta["velocity"] <= 127 for s in samples)
        assert {s.meta["instrument_family_str"] for s in samples} == set(notes.FAMILIES)
        heard[split] = {s.meta["instrument_str"] for s in samples}
        assert heard[split] == instruments[split]
        targets = np.array([notes.normalised_pitch(p) for p in pitches])
        assert targets.min() >= 0.0 and targets.max() <= 1.0
        if split == "test":  # the documented chance level: predicting a mean scores about 0.085
            assert 0.06 < float(np.var(targets)) < 0.11
        for sample in samples[:: max(1, count // 30)]:
            info = native(sample)
            assert (sample.audio_ext, info.format, info.subtype) == ("flac", "FLAC", "PCM_16")
            assert (info.samplerate, info.frames, info.channels) == (16000, 24000, 1)
            wave = decode_audio(sample, 16000)
            assert wave.shape == (24000,) and 0.05 < np.max(np.abs(wave)) <= 1.0
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        assert not heard[a] & heard[b]  # instruments unseen in training, as NSynth's


def test_a_note_has_its_pitch() -> None:
    """The strongest partial family sits at the note's frequency: the label is in the audio."""
    instrument = notes.Instrument("organ_x", "organ", 10, -6.0, 0.0, 0.0, 1000.0, 0.0, 0.0, 0.0, 5.0, 0.0)
    for pitch in (40, 57, 69, 81):
        wave = notes.play(np.random.default_rng(pitch), instrument, pitch, 100)
        spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
        peak_hz = np.argmax(spectrum) * notes.SAMPLE_RATE / wave.size
        assert abs(12 * np.log2(peak_hz / notes.midi_to_hz(pitch))) < 0.5
    assert notes.normalised_pitch(notes.PITCH_LOW) == 0.0 and notes.normalised_pitch(notes.PITCH_HIGH) == 1.0


@pytest.mark.parametrize("name", sound_classes.CLASSES)
def test_every_source_fits_any_duration_and_rate(name: str) -> None:
    source = sound_classes.SOURCES[name]
    for seed in range(12):
        rng = np.random.default_rng(seed)
        rate = (16000, 22050, 44100)[seed % 3]
        seconds = float(rng.uniform(0.3, 3.0))
        wave = source(rng, seconds, rate)
        assert wave.dtype == np.float32 and wave.shape == (int(seconds * rate),)
        assert np.isfinite(wave).all() and 0.99 < np.max(np.abs(wave)) <= 1.0 + 1e-6
    again = source(np.random.default_rng(3), 1.0, 22050)
    assert np.array_equal(again, source(np.random.default_rng(3), 1.0, 22050))
    assert not np.array_equal(again, source(np.random.default_rng(4), 1.0, 22050))


def test_synthesize_many_does_not_depend_on_what_this_process_spoke() -> None:
    utterances = [espeak.Utterance(w, "en-us+f2", 160, 50, 50) for w in ("yes", "stop", "yes")]
    before, rate = espeak.synthesize_many(utterances)
    for word in ("left", "right", "zero"):  # leaves libespeak-ng's state in this process changed
        wave, in_process_rate = espeak.synthesize(word, "en+m3", rate=170, pitch=40, pitch_range=60)
        assert in_process_rate == rate and wave.dtype == np.float32 and wave.size > 1000
    after, _ = espeak.synthesize_many(utterances)
    assert rate == 22050
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert all(w.size > 0.2 * rate and np.max(np.abs(w)) > 0.1 for w in before)


def test_unknown_voices_are_refused() -> None:
    assert espeak.has_voice("en-us+m3") and espeak.has_voice("en-gb-scotland")
    assert not espeak.has_voice("en+no_such_variant") and not espeak.has_voice("xx-nowhere")
    with pytest.raises(DataError, match="no voice"):
        espeak.synthesize("yes", "xx-nowhere", rate=170, pitch=50, pitch_range=50)
    with pytest.raises(DataError, match="rate"):
        espeak.synthesize("yes", "en", rate=10, pitch=50, pitch_range=50)
