"""Offline ASR: short English sentences spoken by espeak-ng voices, LibriSpeech-shaped.

Sentences of 3 to 6 words come from a small grammar over 48 common words, so a probe trained on a
few hundred utterances has seen every word many times and the score measures how well the frames
carry the sounds of speech, not vocabulary coverage. Each split has its own voices (accent and
variant), so a probe that memorised speakers gains nothing on test; no sentence appears in two
splits, so it cannot memorise sentences either. Clips are 16 kHz FLAC with the JSON of LibriSpeech's
shards: {"trans": "UPPER CASE TRANSCRIPT", "speaker": voice}.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr

from xares.data.offline.espeak import Utterance, synthesize_many
from xares.data.shards import audio_to_bytes, write_shards
from xares.errors import DataError

SAMPLE_RATE = 16000

DETERMINERS = ("the", "a", "my", "your", "this", "one")
ADJECTIVES = ("big", "small", "red", "green", "old", "new", "happy", "cold", "dark", "fast")
NOUNS = ("dog", "cat", "man", "car", "house", "tree", "bird", "book", "girl", "boy", "fish", "door")
INTRANSITIVE = ("runs", "sleeps", "sings", "jumps", "waits", "falls")
TRANSITIVE = ("sees", "likes", "finds", "wants", "takes", "needs", "opens", "calls")
ADVERBS = ("today", "now", "again", "here", "there", "slowly")
WORDS = DETERMINERS + ADJECTIVES + NOUNS + INTRANSITIVE + TRANSITIVE + ADVERBS

# Word classes of each sentence pattern: three to six words.
PATTERNS = (
    ("det", "noun", "intransitive"),
    ("det", "adj", "noun", "intransitive"),
    ("det", "noun", "intransitive", "adv"),
    ("det", "noun", "transitive", "det", "noun"),
    ("det", "adj", "noun", "intransitive", "adv"),
    ("det", "adj", "noun", "transitive", "det", "noun"),
    ("det", "noun", "transitive", "det", "adj", "noun"),
    ("det", "noun", "transitive", "det", "noun", "adv"),
)
WORD_CLASSES = {
    "det": DETERMINERS,
    "adj": ADJECTIVES,
    "noun": NOUNS,
    "intransitive": INTRANSITIVE,
    "transitive": TRANSITIVE,
    "adv": ADVERBS,
}

# Voices of each split (accent + variant); no voice is in two splits, and test has accents of its own.
VOICES = {
    "train": (
        "en-us+m1",
        "en-us+f1",
        "en+m3",
        "en+f2",
        "en-gb-x-rp+m4",
        "en-gb-x-rp+f4",
        "en-us-nyc+m2",
        "en-029+f3",
        "en-gb-scotland+m5",
        "en-gb-scotland+f5",
    ),
    "valid": ("en-us+m6", "en+f4"),
    "test": ("en-gb-x-gbclan+m7", "en-gb-x-gbcwmd+f2"),
}
CLIPS_PER_VOICE = {"train": 30, "valid": 25, "test": 30}


def make_sentences(rng: np.random.Generator, count: int) -> list[str]:
    """`count` different sentences drawn from the grammar, in drawing order."""
    sentences: list[str] = []
    seen: set[str] = set()
    while len(sentences) < count:
        pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
        words = [WORD_CLASSES[part][int(rng.integers(len(WORD_CLASSES[part])))] for part in pattern]
        sentence = " ".join(words)
        if sentence not in seen:
            seen.add(sentence)
            sentences.append(sentence)
    return sentences


def generate(out_dir: Path, seed: int = 0) -> None:
    """Write train/valid/test shards (`<split>-000000.tar`) of spoken sentences into `out_dir`.

    Every utterance is spoken in one fresh espeak process (synthesize_many): espeak's output depends
    on what its process said before, so this is what makes the audio repeatable bit for bit.
    """
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    total = sum(len(VOICES[s]) * CLIPS_PER_VOICE[s] for s in VOICES)
    sentences = iter(make_sentences(rng, total))
    plan: list[tuple[str, str, int, str]] = []
    utterances: list[Utterance] = []
    for split, voices in VOICES.items():
        for voice in voices:
            for index in range(CLIPS_PER_VOICE[split]):
                sentence = next(sentences)
                plan.append((split, voice, index, sentence))
                utterances.append(
                    Utterance(
                        sentence,
                        voice,
                        rate=int(rng.integers(150, 196)),
                        pitch=int(rng.integers(35, 66)),
                        pitch_range=int(rng.integers(40, 71)),
                    )
                )
    waves, rate = synthesize_many(utterances)
    by_split: dict[str, list] = {split: [] for split in VOICES}
    for (split, voice, index, sentence), wave in zip(plan, waves, strict=True):
        if wave.size == 0:
            raise DataError(f"espeak-ng produced no audio for {sentence!r} with voice {voice!r}")
        wave = soxr.resample(wave, rate, SAMPLE_RATE).astype(np.float32)
        meta = {"trans": sentence.upper(), "speaker": voice}
        key = f"{split}_{voice.replace('+', '_')}_{index:03d}"
        by_split[split].append((key, audio_to_bytes(wave, SAMPLE_RATE, "FLAC"), "flac", meta))
    for split, samples in by_split.items():
        order = rng.permutation(len(samples))
        write_shards([samples[i] for i in order], out_dir, f"{split}-*.tar")
