"""Offline sound scenes for the frame-level task type: DESED-shaped sound event detection.

Each scene is 10 s of 16 kHz audio: coloured background noise with 0-4 events of five synthetic classes
placed at known onsets and offsets (events may overlap; about one scene in seven has none). The JSON of
each sample is DESED's shape, {"events": [{"onset": s, "offset": s, "label": "name"}, ...]}, so the
task file's label processor is exercised the way a real DESED label processor is.

The classes sit in different parts of the spectrum and differ in texture (steady, sweeping, noisy,
impulsive, harmonic), so a log-mel frame carries most of the answer while a random encoder carries
none: the task separates an informative encoder from chance within seconds on a CPU. Everything comes
from one numpy Generator per split, so a seed gives byte-identical shards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

from xares.data.shards import audio_to_bytes, write_shards

RATE = 16000
SCENE_SECONDS = 10.0
CLASSES: tuple[str, ...] = ("tone", "chirp", "noise_burst", "click_train", "harmonic")
SPLITS: dict[str, tuple[int, int]] = {
    "train": (150, 2),
    "valid": (40, 1),
    "test": (50, 1),
}  # (scenes, shards)
EVENT_COUNT_PROBABILITIES = (0.15, 0.25, 0.25, 0.2, 0.15)  # P(0 events), ..., P(4 events)
EVENT_SECONDS = (0.4, 3.0)
FADE_SECONDS = 0.01


def _unit_rms(wave: np.ndarray) -> np.ndarray:
    return wave / max(float(np.sqrt(np.mean(wave**2))), 1e-9)


def tone(rng: np.random.Generator, n: int) -> np.ndarray:
    """A steady sine at 500-1000 Hz with a slow tremolo."""
    t = np.arange(n) / RATE
    tremolo = 1.0 + 0.2 * np.sin(2 * np.pi * rng.uniform(2, 5) * t)
    return _unit_rms(tremolo * np.sin(2 * np.pi * rng.uniform(500, 1000) * t + rng.uniform(0, 2 * np.pi)))


def chirp(rng: np.random.Generator, n: int) -> np.ndarray:
    """Repeated rising sweeps from about 1.7 kHz to about 3.5 kHz, 0.15-0.35 s each."""
    t = np.arange(n) / RATE
    period = rng.uniform(0.15, 0.35)
    low, high = rng.uniform(1500, 2000), rng.uniform(3000, 4000)
    frequency = low + (high - low) * ((t % period) / period)
    return _unit_rms(np.sin(2 * np.pi * np.cumsum(frequency) / RATE))


def noise_burst(rng: np.random.Generator, n: int) -> np.ndarray:
    """Band-limited hiss between about 4.5 and 7 kHz."""
    low, high = rng.uniform(4000, 5000), rng.uniform(6500, 7500)
    band = butter(4, [low, high], btype="bandpass", fs=RATE, output="sos")
    return _unit_rms(sosfilt(band, rng.standard_normal(n)))


def click_train(rng: np.random.Generator, n: int) -> np.ndarray:
    """Broadband clicks at 15-30 per second, each a noise impulse decaying over a few milliseconds."""
    rate = rng.uniform(15, 30)
    impulses = np.zeros(n)
    starts = (np.arange(0.0, n / RATE, 1.0 / rate) * RATE).astype(int)
    impulses[starts] = rng.uniform(0.6, 1.0, starts.size)
    length = int(0.02 * RATE)
    click = rng.standard_normal(length) * np.exp(-np.arange(length) / (rng.uniform(0.003, 0.008) * RATE))
    return _unit_rms(np.convolve(impulses, click)[:n])


def harmonic(rng: np.random.Generator, n: int) -> np.ndarray:
    """A buzzy harmonic complex on a 120-250 Hz fundamental with vibrato (12 partials, 1/k amplitudes)."""
    t = np.arange(n) / RATE
    f0 = rng.uniform(120, 250) * (1.0 + 0.01 * np.sin(2 * np.pi * rng.uniform(4, 7) * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    return _unit_rms(sum(np.sin(k * phase) / k for k in range(1, 13)))


SYNTHESISERS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "tone": tone,
    "chirp": chirp,
    "noise_burst": noise_burst,
    "click_train": click_train,
    "harmonic": harmonic,
}


def background(rng: np.random.Generator, n: int) -> np.ndarray:
    """Red noise (one-pole low-pass, power falling 6 dB per octave) plus a little white: the "room"."""
    white = rng.standard_normal(n)
    return _unit_rms(_unit_rms(lfilter([1.0], [1.0, -0.97], white)) + 0.1 * white)


def make_scene(rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """One scene's waveform (float32) and its events, onsets and offsets rounded to whole milliseconds."""
    n = int(SCENE_SECONDS * RATE)
    wave = rng.uniform(0.005, 0.03) * background(rng, n)
    events = []
    count = rng.choice(len(EVENT_COUNT_PROBABILITIES), p=EVENT_COUNT_PROBABILITIES)
    for _ in range(count):
        name = CLASSES[rng.integers(len(CLASSES))]
        seconds = round(rng.uniform(*EVENT_SECONDS), 3)
        onset = round(rng.uniform(0.0, SCENE_SECONDS - seconds), 3)
        start, length = round(onset * RATE), round(seconds * RATE)
        source = SYNTHESISERS[name](rng, length)
        fade = int(FADE_SECONDS * RATE)
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
        source[:fade] *= ramp
        source[-fade:] *= ramp[::-1]
        wave[start : start + length] += rng.uniform(0.03, 0.2) * source
        events.append({"onset": onset, "offset": round(onset + seconds, 3), "label": name})
    peak = float(np.abs(wave).max())
    if peak > 0.99:
        wave *= 0.99 / peak
    events.sort(key=lambda e: (e["onset"], e["offset"], e["label"]))
    return wave.astype(np.float32), events


def generate(out_dir: Path, seed: int = 0) -> None:
    """Write train (150 scenes, 2 shards), valid (40) and test (50) as train-000000.tar, ... in out_dir."""
    out_dir = Path(out_dir)
    for split_index, (split, (count, shards)) in enumerate(SPLITS.items()):
        rng = np.random.default_rng(np.random.SeedSequence([seed, split_index]))
        samples = []
        for i in range(count):
            wave, events = make_scene(rng)
            audio = audio_to_bytes(wave, RATE, "FLAC", "PCM_16")
            samples.append((f"{split}_scene_{i:04d}", audio, "flac", {"events": events}))
        write_shards(samples, out_dir, f"{split}-*.tar", num_shards=shards)
