"""LibriCount-shaped offline task: how many espeak-ng voices talk at once (1-4), 4 s FLAC clips at 16 kHz.

Every voice of a clip speaks one sentence of the offline ASR grammar (1-3 s) at a random time in the
clip, at its own level (within ±4 dB of the others), so the voices overlap more the more there are.
A speaker is an accent (`keywords.ACCENTS`) times a voice variant (formants, pitch, breath) with its
own prosody. Splits are by variant, so the test clips are spoken by voice qualities never heard in
training, and the voices of one clip all have different variants (every split has at least
`MAX_SPEAKERS` of them). The mixture is then scaled to a random peak over light coloured noise, so
neither loudness nor clipping gives the count away.

The JSON is LibriCount's: `num_speakers` (an integer, 1-4 here), plus the voices joined by ';'. The
counts are balanced, so guessing scores an accuracy of 0.25.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soxr

from xares.data.offline import espeak
from xares.data.offline.asr_sentences import make_sentences
from xares.data.offline.keywords import ACCENTS, SPLITS, Speaker
from xares.data.offline.sound_classes import colored_noise
from xares.data.shards import audio_to_bytes, write_shards
from xares.errors import DataError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
CLIP_SECONDS = 4.0
CLIP_SAMPLES = int(CLIP_SECONDS * SAMPLE_RATE)
MAX_SPEAKERS = 4
CLIPS_PER_COUNT: dict[str, int] = {"train": 100, "valid": 25, "test": 75}
# espeak-ng's numbered variants and some of its named human-like ones (none of the robots or effects)
VARIANTS_BY_SPLIT: dict[str, tuple[str, ...]] = {
    "train": (
        "m1", "m2", "m3", "m5", "m7", "f1", "f2", "f4",
        "Andy", "Gene", "Michael", "Mario", "robert", "anika", "Alicia", "Annie",
    ),
    "valid": ("m4", "f3", "quincy", "Andrea", "Denis"),
    "test": ("m6", "m8", "f5", "Lee", "gustave", "belinda", "antonio"),
}  # fmt: skip


def speakers_by_split(seed: int = 0) -> dict[str, dict[str, list[Speaker]]]:
    """split -> variant -> its speakers (one per accent); the variants are disjoint across splits.

    Voices this espeak-ng build lacks are left out; a split left with fewer than `MAX_SPEAKERS`
    variants is an error, since its 4-voice clips could not have four different voices.
    """
    result: dict[str, dict[str, list[Speaker]]] = {}
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 0x5C07, 2, split_index])
        by_variant: dict[str, list[Speaker]] = {}
        for variant in VARIANTS_BY_SPLIT[split]:
            for accent in ACCENTS:
                voice = f"{accent}+{variant}"
                speaker = Speaker(
                    voice, int(rng.integers(135, 200)), int(rng.integers(25, 76)), int(rng.integers(20, 81))
                )
                if espeak.has_voice(voice):
                    by_variant.setdefault(variant, []).append(speaker)
                else:
                    logger.warning(
                        "espeak-ng has no voice %s; the speaker-count task goes on without it", voice
                    )
        if len(by_variant) < MAX_SPEAKERS:
            raise DataError(
                f"the speaker-count {split!r} split needs voices of {MAX_SPEAKERS} variants, but espeak-ng "
                f"offers only {sorted(by_variant)} of {list(VARIANTS_BY_SPLIT[split])}. Reinstall "
                "`espeakng-loader`, whose wheel ships the voice data."
            )
        result[split] = by_variant
    return result


def fit_to_clip(rng: np.random.Generator, speech: np.ndarray, num_samples: int) -> np.ndarray:
    """A `num_samples` window of `speech` from a random start, or all of it at a random offset if shorter."""
    out = np.zeros(num_samples)
    if speech.size >= num_samples:
        start = int(rng.integers(0, speech.size - num_samples + 1))
        out[:] = speech[start : start + num_samples]
        ramp = np.linspace(0.0, 1.0, 160)  # 10 ms fades where the window cuts into speech
        out[:160] *= ramp
        out[-160:] *= ramp[::-1]
    else:
        offset = int(rng.integers(0, num_samples - speech.size + 1))
        out[offset : offset + speech.size] = speech
    return out


def _utterance(rng: np.random.Generator, speaker: Speaker, text: str) -> espeak.Utterance:
    return espeak.Utterance(
        text,
        speaker.voice,
        int(np.clip(speaker.rate * rng.uniform(0.92, 1.08), 80, 450)),
        int(np.clip(speaker.pitch + rng.integers(-5, 6), 0, 100)),
        speaker.pitch_range,
    )


def _mix(rng: np.random.Generator, voices: list[np.ndarray], rate: int) -> np.ndarray:
    clip = np.zeros(CLIP_SAMPLES)
    for wave in voices:
        speech = espeak.trim_silence(wave, rate)
        speech = soxr.resample(speech, rate, SAMPLE_RATE, quality="HQ").astype(np.float64)
        part = fit_to_clip(rng, speech, CLIP_SAMPLES)
        rms = float(np.sqrt(np.mean(part**2))) + 1e-9
        clip += part / rms * 10 ** (rng.uniform(-4.0, 4.0) / 20)
    rms = float(np.sqrt(np.mean(clip**2))) + 1e-9
    clip += (
        colored_noise(rng, CLIP_SAMPLES, rng.uniform(0.0, 2.0)) * rms * 10 ** (-rng.uniform(20.0, 40.0) / 20)
    )
    clip *= 10 ** (rng.uniform(-20.0, -1.0) / 20) / (np.max(np.abs(clip)) + 1e-9)
    return np.clip(clip, -1.0, 1.0).astype(np.float32)


def generate(out_dir: Path, seed: int = 0) -> None:
    """Write `train-000000.tar`, `valid-000000.tar` and `test-000000.tar` of speaker-count clips.

    Each voice of a clip says two grammar sentences in one utterance (about 3-5 s of speech, so it
    talks through the whole clip). Everything is spoken in one fresh espeak process
    (`espeak.synthesize_many`), so the audio is repeatable bit for bit.
    """
    out_dir = Path(out_dir)
    speakers = speakers_by_split(seed)
    clips: list[tuple[str, int, list[Speaker]]] = []  # (split, index in split, voices)
    utterances: list[espeak.Utterance] = []
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 0x5C07, 0, split_index])
        variants = sorted(speakers[split])
        counts = np.repeat(np.arange(1, MAX_SPEAKERS + 1), CLIPS_PER_COUNT[split])
        sentences = iter(make_sentences(rng, int(counts.sum())))
        for index, count in enumerate(rng.permutation(counts)):
            chosen = []
            for v in rng.choice(len(variants), size=int(count), replace=False):
                group = speakers[split][variants[v]]
                chosen.append(group[int(rng.integers(len(group)))])
            clips.append((split, index, chosen))
            for speaker in chosen:
                utterances.append(_utterance(rng, speaker, next(sentences)))
    waves, rate = espeak.synthesize_grouped_by_voice(utterances)

    samples: dict[str, list] = {split: [] for split in SPLITS}
    cursor = 0
    for split, index, chosen in clips:
        voices = waves[cursor : cursor + len(chosen)]
        cursor += len(chosen)
        for speaker, wave in zip(chosen, voices, strict=True):
            if wave.size == 0:
                raise DataError(f"espeak-ng produced no audio with voice {speaker.voice!r}")
        rng = np.random.default_rng([seed, 0x5C07, 1, SPLITS.index(split), index])
        clip = _mix(rng, voices, rate)
        key = f"{split}_{index:05d}_{len(chosen)}"
        meta = {"num_speakers": len(chosen), "speakers": ";".join(s.voice for s in chosen)}
        samples[split].append((key, audio_to_bytes(clip, SAMPLE_RATE, "FLAC", "PCM_16"), "flac", meta))
    for split in SPLITS:
        write_shards(samples[split], out_dir, f"{split}-*.tar", 1)
