"""ESC-50-shaped offline task: ten synthetic sound classes in five folds, 2 s WAV clips at 44.1 kHz.

The classes differ in spectro-temporal character (tonal vs noisy vs impulsive, steady vs swept vs
modulated), and every parameter that a real recording would vary — pitch, rate, duration, band,
level, background noise — is drawn at random per clip, so a probe has something to learn and cannot
reach 100 % by reading off one number. The clips are 44.1 kHz like ESC-50's, so every 16 kHz encoder
exercises the resampling path.

One function per class synthesises a source (`fn(rng, duration, rate) -> float32`, peak 1), and
`mixtures.py` reuses them as sound events.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from xares.data.shards import audio_to_bytes, write_shards

SAMPLE_RATE = 44100
CLIP_SECONDS = 2.0
NUM_FOLDS = 5
CLIPS_PER_CLASS_PER_FOLD = 8

_TABLE_SIZE = 4096

SourceFn = Callable[[np.random.Generator, float, int], np.ndarray]


# ---- building blocks -------------------------------------------------------------------------------


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _fade(wave: np.ndarray, rate: int, seconds: float = 0.01) -> np.ndarray:
    """Raised-cosine edges, so a segment starts and stops without a click of its own."""
    n = min(int(seconds * rate), wave.size // 2)
    if n > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n))
        wave[:n] *= ramp
        wave[-n:] *= ramp[::-1]
    return wave


def _peak_normalise(wave: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    return (wave / peak if peak > 0 else wave).astype(np.float32)


def _place(total: int, segment: np.ndarray, start: int) -> np.ndarray:
    out = np.zeros(total)
    segment = segment[: max(0, total - start)]
    out[start : start + segment.size] += segment
    return out


def _fft_size(num_samples: int) -> int:
    """The next 5-smooth length: numpy's FFT is many times slower on the odd lengths random durations give."""
    best = 1 << max(0, num_samples - 1).bit_length()
    fives = 1
    while fives < best:
        threes = fives
        while threes < best:
            candidate = threes << max(0, -(-num_samples // threes) - 1).bit_length()
            best = min(best, candidate)
            threes *= 3
        fives *= 5
    return best


def _shaped_noise(rng: np.random.Generator, num_samples: int, amplitude: np.ndarray) -> np.ndarray:
    """Gaussian noise drawn as a spectrum and shaped there (one inverse FFT), scaled to unit RMS.

    `amplitude` gives the gain for each of the `_fft_size(num_samples) // 2 + 1` frequency bins.
    """
    size = _fft_size(num_samples)
    bins = size // 2 + 1
    # Single precision halves the cost of the commonest operation of the generators; noise needs no more.
    gain = amplitude.astype(np.float32)
    spectrum = rng.standard_normal(2 * bins, dtype=np.float32).view(np.complex64) * gain
    noise = np.fft.irfft(spectrum, n=size)[:num_samples]
    return noise / (float(np.sqrt(np.mean(np.square(noise, dtype=np.float64)))) + 1e-12)


def band_noise(rng: np.random.Generator, num_samples: int, rate: int, low: float, high: float) -> np.ndarray:
    """Unit-RMS noise between `low` and `high` Hz with soft (half-octave) skirts: hiss, steam, wind."""
    freqs = np.maximum(np.fft.rfftfreq(_fft_size(num_samples), 1.0 / rate), 1.0)
    rise = np.clip(1.0 + 2.0 * np.log2(freqs / low), 0.0, 1.0)
    fall = np.clip(1.0 - 2.0 * np.log2(freqs / high), 0.0, 1.0)
    return _shaped_noise(rng, num_samples, rise * fall)


def colored_noise(rng: np.random.Generator, num_samples: int, exponent: float) -> np.ndarray:
    """Unit-RMS noise with power falling as 1/f**exponent (0 white, 1 pink, 2 brown): room tone."""
    bins = np.arange(_fft_size(num_samples) // 2 + 1, dtype=np.float64)
    bins[0] = 1.0
    return _shaped_noise(rng, num_samples, bins ** (-exponent / 2.0))


def add_background(
    rng: np.random.Generator, wave: np.ndarray, *, snr_db: tuple[float, float], level_db: tuple[float, float]
) -> np.ndarray:
    """Scale to a random peak level and add coloured noise at a random SNR (relative to the active part)."""
    active = wave[np.abs(wave) > 0.05 * np.max(np.abs(wave))] if np.any(wave) else wave
    signal_rms = float(np.sqrt(np.mean(active**2))) if active.size else 1.0
    noise = colored_noise(rng, wave.size, rng.uniform(0.5, 1.5))
    mixed = wave + noise * signal_rms * 10 ** (-rng.uniform(*snr_db) / 20)
    mixed = mixed / (np.max(np.abs(mixed)) + 1e-12) * 10 ** (rng.uniform(*level_db) / 20)
    return np.clip(mixed, -1.0, 1.0).astype(np.float32)


def _sweep(f_start: float, f_end: float, seconds: float, rate: int) -> np.ndarray:
    """An exponential sine sweep (equal time per octave, as a chirp sounds)."""
    t = np.arange(int(seconds * rate)) / rate
    k = np.log(f_end / f_start) / seconds
    return np.sin(2 * np.pi * f_start * (np.expm1(k * t)) / k)


def _nyquist_safe(freq: float, rate: int) -> float:
    return min(freq, 0.45 * rate)


# ---- one synthesiser per class ---------------------------------------------------------------------


def steady_tone(rng: np.random.Generator, duration: float, rate: int) -> np.ndarray:
    """A held pitch with faint harmonics (a beep, a hum, a whistle), on for part of the clip."""
    total = int(duration * rate)
    length = int(total * rng.uniform(0.4, 1.0))
    t = np.arange(length) / rate
    f0 = _log_uniform(rng, 500, 1500)
    wave = np.sin(2 * np.pi * f0 * t)
    for k, max_amp in ((2, 0.3), (3, 0.15)):
        if k * f0 < 0.45 * rate:
            wave += rng.uniform(0, max_amp) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    start = int(rng.integers(0, total - length + 1))
    return _peak_normalise(_place(total, _fade(wave, rate, 0.02), start))


def rising_chirp(rng: np.random.Generator, duration: float, rate: int) -> np.ndarray:
    """One to three slow upward sweeps (a siren's rise, a 'whoop')."""
    total = int(duration * rate)
    out = np.zeros(total)
    count = int(rng.integers(1, 4))
    slot = total // count
    for i in range(count):
        seconds = min(rng.uniform(0.25, 0.8), 0.95 * slot / rate)
        f_start = _log_uniform(rng, 250, 700)
        f_end = _nyquist_safe(f_start * rng.uniform(2.0, 5.0), rate)
        sweep = _fade(_sweep(f_start, f_end, seconds, rate), rate)
        start = i * slot + int(rng.integers(0, slot - sweep.size + 1))
        out += _place(total, sweep * rng.uniform(0.6, 1.0), start)
    return _peak_normalise(out)


def falling_chirp(rng: np.random.Generator, duration: float, rate: int) -> np.ndarray:
    """Two to six short downward sweeps (bird-like 'tseew' calls, a laser 'pew')."""
    total = int(duration * rate)
    out = np.zeros(total)
    count = int(rng.integers(2, 7))
    slot = total // count
    for i in range(count):
        seconds = min(rng.uniform(0.08, 0.4), 0.95 * slot / rate)
        f_start = _nyquist_safe(_log_uniform(rng, 1500, 4000), rate)
        f_end = f_start / rng.uniform(2.0, 6.0)
        sweep = _fade(_sweep(f_start, f_end, seconds, rate), rate, 0.005)
        start = i * slot + int(rng.integers(0, slot - sweep.size + 1))
        out += _place(total, sweep * rng.uniform(0.6, 1.0), start)
    return _peak_normalise(out)


def noise_burst(rng: np.random.Generator, duration: float, rate: int) -> np.ndarray:
    """Band-limited hiss in one to four bursts (steam, a spray can, wind gusts)."""
    total = int(duration * rate)
    centre = _log_uniform(rng, 800, 4000)
    half_width = 2 ** (rng.uniform(1.0, 2.5) / 2)
    noise = band_noise(rng, total, rate, centre / half_width, _nyquist_safe(centre * half_width, rate))
    envelope = np.zeros(total)
    for _ in range(int(rng.integers(1, 5))):
        length = int(rng.uniform(0.2, 0.8) * rate)
        start = int(rng.integers(0, max(1, total - length)))
        envelope += _place(total, _fade(np.full(length, rng.uniform(0.5, 1.0)), rate, 0.03), start)
    return _peak_normalise(noise * np.minimum(envelope, 1.0))


def _ringing_click(rng: np.random.Generator, rate: int, freq: float, decay_s: float) -> np.ndarray:
    t = np.arange(int(6 * decay_s * rate) + 2) / rate
    return np.exp(-t / decay_s) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))


def click_train(rng: np.random.Generator, duration: float, rate: int) -> np.ndarray:
    """Regular clicks at 8-50 per second (a ratchet, a clock, a Geiger counter at full tilt)."""
    total = int(duration * rate)
    period = 1.0 / rng.uniform(8, 50)
    click = _ringing_click(
        rng, rate, _nyquist_safe(_log_uniform(rng, 1500, 3000), rate), rng.uniform(1e-4, 4e-4)
    )
    pulses = np.zeros(total)
    on_from, on_to = sorted(rng.uniform(0, duration, size=2))
    if on_to - on_from < 0.5 * duration:
        on_from, on_to = 0.0, duration
    t = on_from + rng.uniform(0, period)
    while t < on_to and int(t * rate) < total:
        pulses[int(t * rate)] = rng.uniform(0.6, 1.0)
        t += period * rng.uniform(0.95, 1.05)
    return _peak_normalise(np.convolve(pulses, click)[:total])


def am_tone(rng: np.random.Generator, duration: float, rate: int) -> np.ndarray:
    """A tone whose loudness throbs 3-25 times a second (a tremolo, a warbling alarm, a fan beat)."""
    total = int(duration * rate)
    length = int(total * rng.uniform(0.5, 1.0))
    t = np.arange(length) / rate
    carrier = np.sin(2 * np.pi * _log_uniform(rng, 1000, 3000) * t)
    depth = rng.uniform(0.6, 1.0)
    envelope = 1.0 - depth * (
        0.5 + 0.5 * np.cos(2 * np.pi * rng.uniform(3, 25) * t + rng.uniform(0, 2 * np.pi))
    )
    start = int(rng.integers(0, total - length + 1))
    return _peak_normalise(_place(total, _fade(carrier * envelope, rate, 0.02), start))


def harmonic_complex(rng: np.random.Generator, duration: float, rate: int) -> np.ndarray:
    """A buzz: many harmonics of a low pitch with a random spectral tilt (an engine, a drone, a horn)."""
    total = int(duration * rate)
    length = int(total * rng.uniform(0.5, 1.0))
    t = np.arange(length) / rate
    f0 = _log_uniform(rng, 70, 220)
    tilt = rng.uniform(0.4, 1.6)
    drift = 1.0 + rng.uniform(-0.03, 0.03) * t / max(t[-1], 1e-9)  # a slow glide, as machines do
    phase = 2 * np.pi * f0 * np.cumsum(drift) / rate
    # One period as a wavetable, read at the gliding phase: 40 harmonics for the price of one.
    k = np.arange(1, int(min(40, 0.45 * rate / f0)) + 1)
    # The table is an inverse FFT of the harmonic amplitudes; bin k holds (N/2) a_k e^(i(phi_k - pi/2)).
    harmonics = np.zeros(_TABLE_SIZE // 2 + 1, dtype=np.complex128)
    harmonics[k] = 0.5 * _TABLE_SIZE * k**-tilt * np.exp(1j * (rng.uniform(0, 2 * np.pi, k.size) - np.pi / 2))
    table = np.fft.irfft(harmonics, n=_TABLE_SIZE)
    grid = 2 * np.pi * np.arange(_TABLE_SIZE + 1) / _TABLE_SIZE
    wave = np.interp(np.mod(phase, 2 * np.pi), grid, np.append(table, table[0]))
    start = int(rng.integers(0, total - length + 1))
    return _peak_normalise(_place(total, _fade(wave, rate, 0.03), start))


def fm_vibrato(rng: np.random.Generator, duration: float, rate: int) -> np.ndarray:
    """A pitch wobbling 4-9 times a second by 2-8 % (a sung note, a theremin, a cooing bird)."""
    total = int(duration * rate)
    length = int(total * rng.uniform(0.5, 1.0))
    t = np.arange(length) / rate
    f0 = _log_uniform(rng, 250, 900)
    depth = rng.uniform(0.02, 0.08)
    freq = f0 * (1.0 + depth * np.sin(2 * np.pi * rng.uniform(4, 9) * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(freq) / rate
    wave = np.sin(phase)
    for k in (2, 3):
        if k * f0 * (1 + depth) < 0.45 * rate:
            wave += rng.uniform(0, 0.4) / (k - 1) * np.sin(k * phase)
    start = int(rng.integers(0, total - length + 1))
    return _peak_normalise(_place(total, _fade(wave, rate, 0.04), start))


def decaying_knocks(rng: np.random.Generator, duration: float, rate: int) -> np.ndarray:
    """One to five impacts, each a few damped resonant modes (knocking on wood, a dropped object)."""
    total = int(duration * rate)
    modes = [(_log_uniform(rng, 120, 900), rng.uniform(0.02, 0.15), rng.uniform(0.3, 1.0)) for _ in range(3)]
    out = np.zeros(total)
    for _ in range(int(rng.integers(1, 6))):
        length = int(0.6 * rate)
        t = np.arange(length) / rate
        knock = np.zeros(length)
        for freq, decay, amp in modes:  # the same object knocked again rings at the same modes
            knock += amp * np.exp(-t / (decay * rng.uniform(0.8, 1.2))) * np.sin(2 * np.pi * freq * t)
        transient = int(0.003 * rate)
        knock[:transient] += rng.uniform(0.2, 0.8) * rng.standard_normal(transient)
        out += _place(total, knock * rng.uniform(0.5, 1.0), int(rng.integers(0, total - rate // 10)))
    return _peak_normalise(out)


def rain_crackle(rng: np.random.Generator, duration: float, rate: int) -> np.ndarray:
    """Dense random crackles over a faint hiss (rain on a roof, fire, frying)."""
    total = int(duration * rate)
    count = rng.poisson(rng.uniform(30, 300) * duration)
    pulses = np.zeros(total)
    positions = rng.integers(0, total, size=count)
    np.add.at(pulses, positions, rng.exponential(1.0, size=count) * rng.choice([-1.0, 1.0], size=count))
    click = _ringing_click(
        rng, rate, _nyquist_safe(_log_uniform(rng, 3000, 8000), rate), rng.uniform(2e-4, 1e-3)
    )
    hiss = band_noise(rng, total, rate, 1000, 0.45 * rate) * rng.uniform(0.02, 0.1)
    return _peak_normalise(np.convolve(pulses, click)[:total] + hiss)


SOURCES: dict[str, SourceFn] = {
    "steady_tone": steady_tone,
    "rising_chirp": rising_chirp,
    "falling_chirp": falling_chirp,
    "noise_burst": noise_burst,
    "click_train": click_train,
    "am_tone": am_tone,
    "harmonic_complex": harmonic_complex,
    "fm_vibrato": fm_vibrato,
    "decaying_knocks": decaying_knocks,
    "rain_crackle": rain_crackle,
}
CLASSES: tuple[str, ...] = tuple(SOURCES)


def fold_pattern(fold: int) -> str:
    """ESC-50's shard naming, so the offline task reads like the real one."""
    return f"wds-audio-fold-{fold}-*.tar"


def generate(out_dir: Path, seed: int = 0) -> None:
    """Write five folds of `CLIPS_PER_CLASS_PER_FOLD` clips per class as `wds-audio-fold-{k}-000000.tar`.

    Every clip has its own random stream derived from (seed, fold, class, index), so the data is
    bit-for-bit repeatable and one clip does not change when another class's synthesis changes.
    """
    out_dir = Path(out_dir)
    for fold in range(1, NUM_FOLDS + 1):
        samples = []
        for label, name in enumerate(CLASSES):
            for index in range(CLIPS_PER_CLASS_PER_FOLD):
                rng = np.random.default_rng([seed, 0x5C, fold, label, index])
                wave = SOURCES[name](rng, CLIP_SECONDS, SAMPLE_RATE)
                wave = add_background(rng, wave, snr_db=(10.0, 30.0), level_db=(-24.0, -1.0))
                key = f"{fold}-{label:02d}{index:03d}-{label}"
                audio = audio_to_bytes(wave, SAMPLE_RATE, "WAV", "PCM_16")
                samples.append((key, audio, "wav", {"label": label, "category": name}))
        order = np.random.default_rng([seed, 0x5C, fold]).permutation(len(samples))
        write_shards([samples[i] for i in order], out_dir, fold_pattern(fold), 1)
