"""VoxLingua-shaped offline task: which of 8 languages an espeak-ng voice speaks, 3 s FLAC clips at 16 kHz.

The text of every clip is two or three random numbers written in digits ("4711, 38, 902"), which
espeak-ng reads out in each language's own words, rhythm and phonemes, so the words differ across
languages while the written text carries no hint of the label. A speaker is a language's voice times
a voice variant (formants, pitch, breath) with its own prosody; splits are by variant (the keyword
task's `VARIANTS_BY_SPLIT`), so the test clips are spoken by voice qualities never heard in training.
Each clip is a 3 s window of the speech (or all of it at a random offset, if shorter) over light
coloured noise at a random level.

The JSON is VoxLingua's: `labels` holds the language code (the VoxLingua107 codes, so the labels are
those of the public task), plus the voice and the text. The languages are balanced in every split,
so guessing scores an accuracy of 1/8 = 0.125.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soxr

from xares.data.offline import espeak
from xares.data.offline.keywords import SPLITS, VARIANTS_BY_SPLIT, Speaker
from xares.data.offline.sound_classes import colored_noise
from xares.data.offline.speaker_count import fit_to_clip
from xares.data.shards import audio_to_bytes, write_shards
from xares.errors import DataError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
CLIP_SECONDS = 3.0
CLIP_SAMPLES = int(CLIP_SECONDS * SAMPLE_RATE)
LANGUAGES: tuple[str, ...] = ("de", "en", "es", "fi", "fr", "it", "pl", "ru")
CLIPS_PER_LANGUAGE: dict[str, int] = {"train": 40, "valid": 10, "test": 25}


def speakers_by_split(seed: int = 0) -> dict[str, dict[str, list[Speaker]]]:
    """split -> language -> its speakers (one per variant of the split); variants disjoint across splits."""
    result: dict[str, dict[str, list[Speaker]]] = {}
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 0x1A96, 0, split_index])
        result[split] = {}
        for language in LANGUAGES:
            speakers = []
            for variant in VARIANTS_BY_SPLIT[split]:
                voice = f"{language}+{variant}"
                rate, pitch, pitch_range = (
                    int(rng.integers(140, 190)),
                    int(rng.integers(25, 76)),
                    int(rng.integers(20, 81)),
                )
                if espeak.has_voice(voice):
                    speakers.append(Speaker(voice, rate, pitch, pitch_range))
                else:
                    logger.warning("espeak-ng has no voice %s; the languages task goes on without it", voice)
            if not speakers:
                raise DataError(
                    f"espeak-ng offers no voice of language {language!r} for the {split!r} split (variants "
                    f"{', '.join(VARIANTS_BY_SPLIT[split])}). Reinstall `espeakng-loader`, whose wheel ships "
                    "the voice data."
                )
            result[split][language] = speakers
    return result


def number_text(rng: np.random.Generator) -> str:
    """Two or three numbers of one to four digits, comma-separated, as a voice reads them out."""
    count = int(rng.integers(2, 4))
    return ", ".join(str(int(rng.integers(0, 10 ** int(rng.integers(1, 5))))) for _ in range(count))


def _render(rng: np.random.Generator, wave: np.ndarray, rate: int) -> np.ndarray:
    speech = espeak.trim_silence(wave, rate)
    speech = soxr.resample(speech, rate, SAMPLE_RATE, quality="HQ").astype(np.float64)
    clip = fit_to_clip(rng, speech / (np.max(np.abs(speech)) + 1e-9), CLIP_SAMPLES)
    rms = float(np.sqrt(np.mean(clip**2))) + 1e-9
    clip += (
        colored_noise(rng, CLIP_SAMPLES, rng.uniform(0.0, 2.0)) * rms * 10 ** (-rng.uniform(15.0, 35.0) / 20)
    )
    clip *= 10 ** (rng.uniform(-20.0, -1.0) / 20) / (np.max(np.abs(clip)) + 1e-9)
    return np.clip(clip, -1.0, 1.0).astype(np.float32)


def generate(out_dir: Path, seed: int = 0) -> None:
    """Write `train-000000.tar`, `valid-000000.tar` and `test-000000.tar` of spoken-language clips.

    Every utterance is spoken in one fresh espeak process (`espeak.synthesize_many`), so the audio is
    repeatable bit for bit.
    """
    out_dir = Path(out_dir)
    speakers = speakers_by_split(seed)
    plan: list[tuple[str, str, espeak.Utterance]] = []  # (split, language, utterance)
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 0x1A96, 1, split_index])
        for language in LANGUAGES:
            pool = speakers[split][language]
            order = rng.permutation(len(pool))  # every speaker of the split speaks about as often
            for i in range(CLIPS_PER_LANGUAGE[split]):
                speaker = pool[order[i % len(pool)]]
                utterance = espeak.Utterance(
                    number_text(rng),
                    speaker.voice,
                    int(np.clip(speaker.rate * rng.uniform(0.92, 1.08), 80, 450)),
                    int(np.clip(speaker.pitch + rng.integers(-5, 6), 0, 100)),
                    speaker.pitch_range,
                )
                plan.append((split, language, utterance))
    waves, rate = espeak.synthesize_grouped_by_voice([item[2] for item in plan])

    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 0x1A96, 2, split_index])
        samples = []
        for index, (plan_split, language, utterance) in enumerate(plan):
            if plan_split != split:
                continue
            if waves[index].size == 0:
                raise DataError(
                    f"espeak-ng produced no audio for {utterance.text!r} with voice {utterance.voice!r}"
                )
            clip = _render(rng, waves[index], rate)
            key = f"{split}_{len(samples):05d}_{language}_{utterance.voice.replace('+', '_')}"
            meta = {"labels": language, "speaker": utterance.voice, "text": utterance.text}
            samples.append((key, audio_to_bytes(clip, SAMPLE_RATE, "FLAC", "PCM_16"), "flac", meta))
        shuffled = [samples[i] for i in rng.permutation(len(samples))]
        write_shards(shuffled, out_dir, f"{split}-*.tar", 1)
