"""FSD50K-shaped offline task: multi-label tagging of 3 s scenes mixing one to three sound events.

The events are eight of the synthetic sound classes of `sound_classes`, each placed at a random time
with a random gain, so a probe must recognise a class under others and at varying loudness; the
label is FSD50K's semicolon-separated `soundevent` string. 22.05 kHz FLAC, another rate and codec
than the other offline tasks, so resampling and decoding are exercised too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xares.data.offline.sound_classes import SOURCES, add_background
from xares.data.shards import audio_to_bytes, write_shards

CLASSES: tuple[str, ...] = (
    "rising_chirp",
    "falling_chirp",
    "noise_burst",
    "click_train",
    "harmonic_complex",
    "fm_vibrato",
    "decaying_knocks",
    "rain_crackle",
)
SAMPLE_RATE = 22050
CLIP_SECONDS = 3.0
SPLIT_SIZES: dict[str, int] = {"train": 360, "valid": 90, "test": 120}
MAX_SOURCES = 3


def _mixture(rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """One scene: 1-3 distinct events, each 0.6-2.2 s long, at a random place and gain."""
    total = int(CLIP_SECONDS * SAMPLE_RATE)
    count = int(rng.integers(1, MAX_SOURCES + 1))
    chosen = sorted(rng.choice(len(CLASSES), size=count, replace=False).tolist())
    scene = np.zeros(total)
    for index in chosen:
        seconds = rng.uniform(0.6, 2.2)
        event = SOURCES[CLASSES[index]](rng, seconds, SAMPLE_RATE).astype(np.float64)
        start = int(rng.integers(0, total - event.size + 1))
        scene[start : start + event.size] += event * 10 ** (rng.uniform(-10.0, 0.0) / 20)
    wave = add_background(rng, scene, snr_db=(15.0, 35.0), level_db=(-20.0, -1.0))
    return wave, [CLASSES[i] for i in chosen]


def generate(out_dir: Path, seed: int = 0) -> None:
    """Write `train-000000.tar`, `valid-000000.tar` and `test-000000.tar` of 3 s multi-label scenes.

    Each scene draws from its own random stream (seed, split, index): repeatable bit for bit, and
    the scenes of one split do not shift when another split's size changes.
    """
    out_dir = Path(out_dir)
    for split_index, (split, size) in enumerate(SPLIT_SIZES.items()):
        samples = []
        for index in range(size):
            rng = np.random.default_rng([seed, 0x4D58, split_index, index])
            wave, labels = _mixture(rng)
            audio = audio_to_bytes(wave, SAMPLE_RATE, "FLAC", "PCM_16")
            samples.append((f"{split}_{index:05d}", audio, "flac", {"soundevent": ";".join(labels)}))
        write_shards(samples, out_dir, f"{split}-*.tar", 1)
