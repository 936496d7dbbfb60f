"""NSynth-shaped offline task: single synthesised notes, 1.5 s FLAC at 16 kHz, scored by pitch regression.

Each note is played by a synthetic *instrument*: a harmonic spectrum (number of partials, spectral
slope, odd/even balance, a weak or strong fundamental, a formant-like resonance, stretched partials),
an envelope family (plucked, bowed, organ, mallet, reed) and a little vibrato and breath noise. The
instruments of the three splits are disjoint, as NSynth's are, so the probe must read the pitch of
timbres it never heard. Pitches are whole MIDI notes drawn uniformly from `PITCH_LOW`..`PITCH_HIGH`
(C2 to C6, 65 Hz to 1047 Hz), velocities from 40 to 127.

The JSON follows NSynth's field names: `pitch` (MIDI note), `velocity`, `instrument_str`,
`instrument_family_str`. The task regresses `normalised_pitch(pitch)`, the note's position in the
range on a 0-1 scale; predicting the training mean scores an MSE of about 1/12 (the variance of a
uniform draw, 0.085 for these 49 notes).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from xares.data.offline.sound_classes import colored_noise
from xares.data.shards import audio_to_bytes, write_shards

SAMPLE_RATE = 16000
CLIP_SECONDS = 1.5
PITCH_LOW, PITCH_HIGH = 36, 84  # MIDI C2 .. C6, both included
FAMILIES: tuple[str, ...] = ("plucked", "bowed", "organ", "mallet", "reed")
SPLITS: tuple[str, ...] = ("train", "valid", "test")
INSTRUMENTS_PER_SPLIT: dict[str, int] = {"train": 40, "valid": 10, "test": 15}
NOTES_PER_SPLIT: dict[str, int] = {"train": 400, "valid": 100, "test": 150}
_MAX_PARTIALS = 40


def normalised_pitch(pitch: int | float) -> float:
    """A MIDI note's place in the task's range: 0.0 for `PITCH_LOW`, 1.0 for `PITCH_HIGH`."""
    return (float(pitch) - PITCH_LOW) / (PITCH_HIGH - PITCH_LOW)


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


class Instrument(NamedTuple):
    """The timbre every note of one synthetic instrument shares."""

    name: str
    family: str
    partials: int  # harmonics before the Nyquist cut
    slope_db: float  # level change per octave of partial number
    odd_even_db: float  # extra attenuation of even partials (clarinet-like when large)
    fundamental_db: float  # gain of the first partial (negative: a weak fundamental)
    formant_hz: float  # centre of a resonance that shapes the spectrum
    formant_gain_db: float
    stretch: float  # inharmonicity: partial k sits at k * f0 * sqrt(1 + stretch * k^2)
    vibrato_cents: float
    vibrato_hz: float
    breath: float  # level of noise that follows the envelope, relative to the tone


def make_instruments(seed: int = 0) -> dict[str, list[Instrument]]:
    """The instruments of each split, disjoint by construction (each is drawn once, for one split)."""
    result: dict[str, list[Instrument]] = {}
    for split_index, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, 0x4E07, 0, split_index])
        instruments = []
        for index in range(INSTRUMENTS_PER_SPLIT[split]):
            family = FAMILIES[(index + split_index) % len(FAMILIES)]
            instruments.append(
                Instrument(
                    name=f"{family}_{split}_{index:03d}",
                    family=family,
                    partials=int(rng.integers(3, _MAX_PARTIALS + 1)),
                    slope_db=float(rng.uniform(-14.0, -2.0)),
                    odd_even_db=float(rng.choice([0.0, rng.uniform(0.0, 20.0)])),
                    fundamental_db=float(rng.choice([0.0, rng.uniform(-20.0, 0.0)])),
                    formant_hz=float(np.exp(rng.uniform(np.log(300.0), np.log(4000.0)))),
                    formant_gain_db=float(rng.uniform(0.0, 18.0)),
                    stretch=float(rng.choice([0.0, rng.uniform(0.0, 4e-4)]) if family != "mallet" else 2e-3),
                    vibrato_cents=float(rng.uniform(0.0, 25.0)) if family in ("bowed", "reed") else 0.0,
                    vibrato_hz=float(rng.uniform(4.0, 7.0)),
                    breath=float(rng.uniform(0.0, 0.15)),
                )
            )
        result[split] = instruments
    return result


def _envelope(rng: np.random.Generator, family: str, num_samples: int, rate: int) -> np.ndarray:
    """Amplitude over time: attack, body and a release before the clip ends."""
    t = np.arange(num_samples) / rate
    note_off = rng.uniform(0.8, 1.2)
    release = np.clip(1.0 - (t - note_off) / 0.15, 0.0, 1.0)  # 150 ms linear release after note-off
    if family == "plucked":
        body = np.exp(-t / rng.uniform(0.2, 0.8))
        attack = 0.003
    elif family == "mallet":
        body = np.exp(-t / rng.uniform(0.08, 0.3))
        attack = 0.002
    elif family == "bowed":
        body = np.ones_like(t)
        attack = rng.uniform(0.08, 0.25)
    elif family == "reed":
        body = 1.0 - 0.2 * np.minimum(t / 0.3, 1.0)
        attack = rng.uniform(0.02, 0.06)
    else:  # organ
        body = np.ones_like(t)
        attack = 0.01
    rise = np.clip(t / attack, 0.0, 1.0)
    return rise * body * release


def play(rng: np.random.Generator, instrument: Instrument, pitch: int, velocity: int) -> np.ndarray:
    """One note of `instrument`: float32, peak set by the velocity (127 -> 0.9)."""
    num_samples = int(CLIP_SECONDS * SAMPLE_RATE)
    t = np.arange(num_samples) / SAMPLE_RATE
    f0 = midi_to_hz(pitch) * 2.0 ** (rng.normal(0.0, 5.0) / 1200)  # a few cents of tuning error
    vibrato = instrument.vibrato_cents * np.sin(
        2 * np.pi * instrument.vibrato_hz * t + rng.uniform(0, 2 * np.pi)
    )
    # the instantaneous frequency ratio, integrated to a phase (vibrato bends every partial alike)
    phase = 2 * np.pi * np.cumsum(f0 * 2.0 ** (vibrato / 1200)) / SAMPLE_RATE
    tone = np.zeros(num_samples)
    for k in range(1, instrument.partials + 1):
        ratio = k * np.sqrt(1.0 + instrument.stretch * k * k)
        freq = f0 * ratio
        if freq >= 0.95 * SAMPLE_RATE / 2:
            break
        level_db = instrument.slope_db * np.log2(k)
        if k % 2 == 0:
            level_db -= instrument.odd_even_db
        if k == 1:
            level_db += instrument.fundamental_db
        level_db += instrument.formant_gain_db / (1.0 + (np.log2(freq / instrument.formant_hz) / 0.4) ** 2)
        # brighter when played harder, as most real instruments are
        level_db += (velocity - 127) / 127 * 6.0 * np.log2(k)
        tone += 10 ** (level_db / 20) * np.sin(ratio * phase + rng.uniform(0, 2 * np.pi))
    tone /= np.max(np.abs(tone)) + 1e-9
    envelope = _envelope(rng, instrument.family, num_samples, SAMPLE_RATE)
    breath = colored_noise(rng, num_samples, rng.uniform(0.5, 1.5))
    wave = envelope * (tone + instrument.breath * breath / (np.max(np.abs(breath)) + 1e-9))
    wave += colored_noise(rng, num_samples, 1.0) * 10 ** (-rng.uniform(45.0, 60.0) / 20)  # a faint floor
    peak = 0.9 * 10 ** ((velocity - 127) / 127 * 20.0 / 20)  # velocity 40 is about 14 dB below 127
    return (wave * peak / (np.max(np.abs(wave)) + 1e-9)).astype(np.float32)


def generate(out_dir: Path, seed: int = 0) -> None:
    """Write `train-000000.tar`, `valid-000000.tar` and `test-000000.tar` of single notes.

    Every note has its own random stream derived from (seed, split, index), so the data is repeatable
    bit for bit and does not depend on the order in which notes are played.
    """
    out_dir = Path(out_dir)
    instruments = make_instruments(seed)
    for split_index, split in enumerate(SPLITS):
        samples = []
        pool = instruments[split]
        for index in range(NOTES_PER_SPLIT[split]):
            rng = np.random.default_rng([seed, 0x4E07, 1, split_index, index])
            instrument = pool[index % len(pool)]
            pitch = int(rng.integers(PITCH_LOW, PITCH_HIGH + 1))
            velocity = int(rng.integers(40, 128))
            wave = play(rng, instrument, pitch, velocity)
            key = f"{instrument.name}-{pitch:03d}-{velocity:03d}-{index:04d}"
            meta = {
                "pitch": pitch,
                "velocity": velocity,
                "instrument_str": instrument.name,
                "instrument_family_str": instrument.family,
            }
            samples.append((key, audio_to_bytes(wave, SAMPLE_RATE, "FLAC", "PCM_16"), "flac", meta))
        order = np.random.default_rng([seed, 0x4E07, 2, split_index]).permutation(len(samples))
        write_shards([samples[i] for i in order], out_dir, f"{split}-*.tar", 1)
