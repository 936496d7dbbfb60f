"""Offline captioned audio (Clotho-shaped): synthetic scenes of 1-2 sources, 5 captions per clip.

Each source has a class (tone, chirp, noise, clicks, harmonic), a pitch register (low/high), a
loudness (quiet/loud) and, where it applies, a direction (chirps rise or fall) or a tempo (clicks are
slow or fast). Two sources either play together or one after the other. Every clip gets five
captions built from templates and synonyms, so they describe the same thing in different words, the
way five Clotho annotators do: a text model has to learn that "shrill" and "high pitched" mean the
same, and which words matter.

The attribute space is large enough (about 30 single-source and several hundred two-source
descriptions) that retrieval over the test split is not solved by the class alone, yet a plain
log-mel encoder carries every attribute: pitch register, loudness, tempo and noise colour all show
in the average spectrum.

Layout as Clotho: JSON objects {"caption_1": ..., "caption_5": ...}; splits train (300 clips),
valid (60) and test (80) in shards train-*.tar, valid-*.tar, test-*.tar; 16 kHz FLAC, 2-4 s.
Deterministic for a seed (each split has its own random stream), and fast (a few seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xares.data.shards import audio_to_bytes, write_shards

RATE = 16000
SPLITS: dict[str, int] = {"train": 300, "valid": 60, "test": 80}
CLASSES: tuple[str, ...] = ("tone", "chirp", "noise", "clicks", "harmonic")
NUM_CAPTIONS = 5
LOUDNESS_AMPLITUDE = {"quiet": 0.04, "loud": 0.4}


@dataclass(frozen=True)
class Source:
    kind: str
    pitch: str  # low | high
    loudness: str  # quiet | loud
    motion: str | None = None  # chirp: rising | falling; clicks: slow | fast


# ----- audio --------------------------------------------------------------------------------------


def _band_noise(rng: np.random.Generator, n: int, low_hz: float, high_hz: float) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / RATE)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0.0
    return np.fft.irfft(spectrum, n)


def _render(source: Source, n: int, rng: np.random.Generator) -> np.ndarray:
    """One source's waveform of n samples, normalised to unit RMS (loudness is applied by the caller)."""
    t = np.arange(n) / RATE
    high = source.pitch == "high"
    if source.kind == "tone":
        hz = rng.uniform(1500, 3500) if high else rng.uniform(150, 400)
        wave = np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi))
    elif source.kind == "chirp":
        low_hz, high_hz = (rng.uniform(1200, 1800), rng.uniform(3500, 5000)) if high else (150, 600)
        start, end = (low_hz, high_hz) if source.motion == "rising" else (high_hz, low_hz)
        hz = start * (end / start) ** (t / t[-1])  # exponential sweep over the source's duration
        wave = np.sin(2 * np.pi * np.cumsum(hz) / RATE)
    elif source.kind == "noise":
        wave = _band_noise(rng, n, 3000, 7500) if high else _band_noise(rng, n, 40, 500)
    elif source.kind == "clicks":
        hz = rng.uniform(3000, 4500) if high else rng.uniform(300, 600)
        rate = rng.uniform(8, 12) if source.motion == "fast" else rng.uniform(1.5, 3)
        burst_t = np.arange(int(0.03 * RATE)) / RATE
        burst = np.sin(2 * np.pi * hz * burst_t) * np.exp(-burst_t / 0.005)
        wave = np.zeros(n)
        for onset in np.arange(rng.uniform(0, 1 / rate), n / RATE, 1 / rate):
            start = int(onset * RATE)
            piece = burst[: n - start]
            wave[start : start + piece.size] += piece
    elif source.kind == "harmonic":
        f0 = rng.uniform(400, 800) if high else rng.uniform(80, 180)
        harmonics = np.arange(1, int(7000 // f0) + 1)
        wave = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k for k in harmonics)
    else:  # pragma: no cover - CLASSES is closed
        raise ValueError(source.kind)
    fade = min(n // 2, int(0.02 * RATE))
    envelope = np.ones(n)
    envelope[:fade] = np.linspace(0, 1, fade)
    envelope[n - fade :] = np.linspace(1, 0, fade)
    wave = wave * envelope
    return wave / (np.sqrt(np.mean(wave**2)) + 1e-9)


def _mix(sources: list[Source], sequential: bool, rng: np.random.Generator) -> np.ndarray:
    n = int(rng.uniform(2.0, 4.0) * RATE)
    mix = 0.002 * rng.standard_normal(n)  # a faint noise floor: no clip is digital silence
    if sequential:  # the first source fills the first part, the second the rest, overlapping a little
        cut = int(n * rng.uniform(0.4, 0.6))
        overlap = int(0.1 * RATE)
        spans = [(0, cut + overlap), (cut - overlap, n)]
    else:
        spans = [(0, n)] * len(sources)
    for source, (start, end) in zip(sources, spans, strict=False):
        gain = LOUDNESS_AMPLITUDE[source.loudness] * rng.uniform(0.8, 1.25)
        mix[start:end] += gain * _render(source, end - start, rng)
    peak = np.max(np.abs(mix))
    return (mix / peak * 0.95 if peak > 0.95 else mix).astype(np.float32)


# ----- captions -----------------------------------------------------------------------------------

LOUDNESS_WORDS = {
    "quiet": ("quiet", "soft", "faint", "gentle", "distant"),
    "loud": ("loud", "strong", "intense", "powerful", "booming"),
}
PITCH_WORDS = {
    "low": ("low", "low pitched", "deep", "bass"),
    "high": ("high", "high pitched", "shrill", "piercing"),
}
NOUNS = {
    ("tone", "low"): ("tone", "beep", "sine tone", "steady note"),
    ("tone", "high"): ("tone", "beep", "whistle", "steady note"),
    ("chirp", "low"): ("sweep", "glide", "siren"),
    ("chirp", "high"): ("sweep", "chirp", "siren"),
    ("noise", "low"): ("rumble", "rumbling noise", "roar"),
    ("noise", "high"): ("hiss", "hissing noise", "static"),
    ("clicks", "low"): ("knocking", "thumping", "knocks"),
    ("clicks", "high"): ("ticking", "clicking", "taps"),
    ("harmonic", "low"): ("hum", "drone", "buzzing hum"),
    ("harmonic", "high"): ("buzz", "whine", "buzzing note"),
}
MOTION_WORDS = {
    "rising": ("rising", "going up", "sweeping upwards", "climbing in pitch"),
    "falling": ("falling", "going down", "sweeping downwards", "dropping in pitch"),
    "slow": ("slow", "unhurried", "sparse", "leisurely"),
    "fast": ("fast", "rapid", "quick", "hurried"),
}
SINGLE_TEMPLATES = (
    "{np}",
    "{np} can be heard",
    "there is {np}",
    "a recording of {np}",
    "{np} plays on its own",
    "you can hear {np}",
    "{np} sounds steadily",
    "only {np} is audible",
)
TOGETHER_TEMPLATES = (
    "{a} and {b}",
    "{a} together with {b}",
    "{a} while {b} plays",
    "{a} mixed with {b}",
    "{a} over {b} at the same time",
    "both {a} and {b} at once",
)
SEQUENCE_TEMPLATES = (
    "{a} followed by {b}",
    "{a}, then {b}",
    "first {a}, then {b}",
    "{a} and afterwards {b}",
    "{a} before {b} starts",
)


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def noun_phrase(source: Source, rng: np.random.Generator) -> str:
    """e.g. 'a loud high pitched sweep going up', 'soft rapid ticking'; each attribute mostly named."""
    noun = str(rng.choice(NOUNS[(source.kind, source.pitch)]))
    words = []
    if rng.random() < 0.85:
        words.append(str(rng.choice(LOUDNESS_WORDS[source.loudness])))
    if source.kind == "clicks":  # tempo is the salient property; 'ticking' vs 'knocking' carries pitch
        words.append(str(rng.choice(MOTION_WORDS[source.motion])))
        if rng.random() < 0.5:
            words.append(str(rng.choice(PITCH_WORDS[source.pitch])))
    elif rng.random() < 0.85 or source.kind == "tone":
        words.append(str(rng.choice(PITCH_WORDS[source.pitch])))
    phrase = " ".join([*words, noun])
    if source.kind == "chirp":
        phrase += " " + str(rng.choice(MOTION_WORDS[source.motion]))
    return phrase if source.kind == "clicks" else _article(phrase)  # 'rapid ticking', 'soft knocks'


def caption(sources: list[Source], sequential: bool, rng: np.random.Generator) -> str:
    if len(sources) == 1:
        text = str(rng.choice(SINGLE_TEMPLATES)).format(np=noun_phrase(sources[0], rng))
    else:
        templates = SEQUENCE_TEMPLATES if sequential else TOGETHER_TEMPLATES
        first, second = sources if sequential or rng.random() < 0.5 else sources[::-1]
        text = str(rng.choice(templates)).format(a=noun_phrase(first, rng), b=noun_phrase(second, rng))
    return text[0].upper() + text[1:] + "."


def captions(sources: list[Source], sequential: bool, rng: np.random.Generator) -> list[str]:
    """Five different captions (different wording) of one clip."""
    found: list[str] = []
    for _ in range(200):
        text = caption(sources, sequential, rng)
        if text not in found:
            found.append(text)
            if len(found) == NUM_CAPTIONS:
                return found
    raise RuntimeError(
        f"could not phrase {NUM_CAPTIONS} different captions for {sources}"
    )  # pragma: no cover


# ----- scenes and splits --------------------------------------------------------------------------


def random_source(kind: str, rng: np.random.Generator) -> Source:
    motion = None
    if kind == "chirp":
        motion = str(rng.choice(("rising", "falling")))
    elif kind == "clicks":
        motion = str(rng.choice(("slow", "fast")))
    return Source(kind, str(rng.choice(("low", "high"))), str(rng.choice(("quiet", "loud"))), motion)


def random_scene(rng: np.random.Generator) -> tuple[list[Source], bool]:
    """One or two sources of different classes; two play together or in sequence."""
    count = 1 if rng.random() < 0.4 else 2
    kinds = rng.choice(len(CLASSES), size=count, replace=False)
    return [random_source(CLASSES[k], rng) for k in kinds], bool(count == 2 and rng.random() < 0.5)


def generate(out_dir: Path, seed: int = 0) -> None:
    """Write the three splits' shards into out_dir."""
    out_dir = Path(out_dir)
    for split_index, (split, count) in enumerate(SPLITS.items()):
        rng = np.random.default_rng([seed, split_index])
        samples = []
        for index in range(count):
            sources, sequential = random_scene(rng)
            wave = _mix(sources, sequential, rng)
            meta = {f"caption_{i + 1}": text for i, text in enumerate(captions(sources, sequential, rng))}
            audio = audio_to_bytes(wave, RATE, audio_format="FLAC", subtype="PCM_16")
            samples.append((f"{split}_{index:04d}", audio, "flac", meta))
        write_shards(samples, out_dir, f"{split}-*.tar", num_shards=2)
