"""Real instrument notes from freepats (GUS patches of sampled instruments): family and pitch.

Each melodic patch of freepats (Tone_000/NNN_Name.pat, NNN its General MIDI program) holds a few
recorded samples of the instrument, each with its root pitch. Every sample becomes one clip: its
first second (a looping sample is continued through its loop), as 16-bit WAV at its own rate. Labels:
`family`, the General MIDI family (program // 8: piano, chromatic percussion, organ, guitar, bass,
strings, ensemble, brass, reed, pipe, synth lead, synth pad, synth effects, ethnic, percussive, sound
effects), and `pitch`, the root pitch as a MIDI number. Only the nine families of CLASSES are kept,
those with at least four instruments in freepats (the synth pads, synth effects and sound effects
hold one sample per instrument, too few to learn a family from). Five folds, instruments disjoint
across them: within each family, in program order, the r-th instrument goes to fold r % 5 + 1, so
each fold holds about one instrument of each family and a probe always meets the family through
instruments it never heard. Licence: GPL-2+ with the font exception (Debian's copyright file).
"""

from __future__ import annotations

import math
import re
import struct
from pathlib import Path

import numpy as np

from xares.data.debian import read_members
from xares.data.real.packages import FREEPATS, fetch
from xares.data.shards import audio_to_bytes, write_shards
from xares.errors import DataError

FAMILIES: tuple[str, ...] = (
    "piano", "chromatic_percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass",
    "reed", "pipe", "synth_lead", "synth_pad", "synth_effects", "ethnic", "percussive", "sound_effects",
)  # fmt: skip
CLASSES: tuple[str, ...] = (
    "piano", "chromatic_percussion", "organ", "guitar", "bass", "strings", "brass", "reed", "pipe",
)  # fmt: skip
FOLDS = 5
MIN_INSTRUMENTS = 4
_ROOT = "usr/share/midi/freepats/Tone_000/"
_PATCH = re.compile(r"^(\d{3})_(.+)\.pat$")
_SAMPLE_HEADER = 96
_FIRST_SAMPLE = 129 + 63 + 47


def read_patch(data: bytes, name: str) -> list[tuple[np.ndarray, int, float]]:
    """The samples of a GUS patch as (wave in [-1, 1], sample rate, root pitch in MIDI)."""
    if not data.startswith(b"GF1PATCH1"):
        raise DataError(f"{name} is not a GUS patch (no GF1PATCH header)")
    count = data[129 + 63 + 6]  # the layer's sample count
    offset, samples = _FIRST_SAMPLE, []
    for _ in range(count):
        header = data[offset : offset + _SAMPLE_HEADER]
        if len(header) < _SAMPLE_HEADER:
            raise DataError(f"{name}: truncated sample header at byte {offset}")
        length, loop_start, loop_end, rate = struct.unpack_from("<IIIH", header, 8)
        root_mhz = struct.unpack_from("<I", header, 30)[0]
        modes = header[55]
        raw = data[offset + _SAMPLE_HEADER : offset + _SAMPLE_HEADER + length]
        offset += _SAMPLE_HEADER + length
        wide, unsigned = modes & 1, modes & 2
        dtype = ("<u2" if unsigned else "<i2") if wide else ("u1" if unsigned else "i1")
        wave = np.frombuffer(raw[: len(raw) - len(raw) % (2 if wide else 1)], dtype=dtype).astype(np.float64)
        scale = 32768.0 if wide else 128.0
        wave = (wave - scale) / scale if unsigned else wave / scale
        if modes & 4 and loop_end > loop_start:
            step = 2 if wide else 1
            loop = wave[loop_start // step : loop_end // step]
            while loop.size and wave.size < rate:
                wave = np.concatenate([wave, loop])
        if rate <= 0 or root_mhz <= 0 or wave.size == 0:
            continue
        samples.append((wave[:rate].astype(np.float32), rate, 69 + 12 * math.log2(root_mhz / 1000 / 440)))
    return samples


def fold_of_instruments(programs: list[int]) -> dict[int, int]:
    """program -> fold: per family of CLASSES with >= 4 instruments, rank r (program order) -> r % 5 + 1."""
    out: dict[int, int] = {}
    for family in CLASSES:
        members = sorted(p for p in programs if FAMILIES[p // 8] == family)
        if len(members) < MIN_INSTRUMENTS:
            continue
        for rank, program in enumerate(members):
            out[program] = rank % FOLDS + 1
    return out


def build(deb: Path, out_dir: Path) -> None:
    """Write wds-audio-fold-{1..5}-000000.tar from the package's melodic patches."""
    files = read_members(deb, lambda p: p.startswith(_ROOT) and p.endswith(".pat"))
    patches = {}
    for path, data in files.items():
        match = _PATCH.match(path[len(_ROOT) :])
        if match:
            patches[int(match.group(1))] = (match.group(2), data, path)
    if not patches:
        raise DataError(f"{deb}: no melodic patches under {_ROOT}; is this freepats?")
    folds = fold_of_instruments(sorted(patches))
    samples: dict[int, list] = {fold: [] for fold in range(1, FOLDS + 1)}
    for program in sorted(folds):
        name, data, path = patches[program]
        for index, (wave, rate, pitch) in enumerate(read_patch(data, path)):
            peak = float(np.max(np.abs(wave))) or 1.0
            audio = audio_to_bytes(wave / peak * 0.9, rate, "WAV", "PCM_16")
            meta = {"family": FAMILIES[program // 8], "pitch": round(pitch, 3), "instrument": name}
            samples[folds[program]].append((f"{program:03d}_{name}_{index:02d}", audio, "wav", meta))
    for fold, items in samples.items():
        write_shards(items, Path(out_dir), f"wds-audio-fold-{fold}-*.tar", 1)


def generate(out_dir: Path) -> None:
    build(fetch(FREEPATS, out_dir), out_dir)


generate.debian_packages = (FREEPATS,)  # read by `xares fetch --print-urls`
