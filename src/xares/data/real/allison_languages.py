"""English or Spanish, one speaker: Allison's Asterisk prompts in both languages (asterisk-core-sounds).

Allison Smith recorded both the US English (en_US_f_Allison) and the Mexican Spanish (es_MX_f_Allison)
prompts, so the voice is the same on both sides (the fr, it and ru prompts are each one other speaker,
so they are left out: there language and speaker would be the same thing). The two languages were
recorded in different sessions, though, and the sessions differ: the median noise floor is -78 dBFS
in English and -52 dBFS in Spanish, and a logistic regression on the mean spectrum of only the
quietest tenth of each clip's frames (the pauses) tells the test clips apart 94 % of the time
(benchmarks/real_languages_session_cue.py). So the label is the language *and* the recording
session, and this task cannot tell spoken-language identification from hearing the session's room
and microphone; trimming the pauses and adding a common noise floor, or equalising each language's
mean spectrum, were tried and left a spectrum-only classifier at 0.92-0.97, so the audio is kept as
shipped and the task is named for both. Labels: en, es (balanced within a few per cent; chance
~0.52). Splits by prompt name (its SHA-256: 70 % train, 10 % valid, 20 % test), so a prompt and its
translation, which share a name, are always on the same side. WAV bytes go into the shards as shipped
(8 kHz, 16-bit). Licence: CC-BY-SA-3.0 (Digium; Debian's copyright file of asterisk-core-sounds).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from xares.data.debian import read_members
from xares.data.real.packages import ASTERISK_EN_WAV, ASTERISK_ES_WAV, fetch
from xares.data.shards import write_shards

LANGUAGES: tuple[str, ...] = ("en", "es")
SPLITS: tuple[str, ...] = ("train", "valid", "test")
_FOLDERS = {
    "en": "usr/share/asterisk/sounds/en_US_f_Allison/",
    "es": "usr/share/asterisk/sounds/es_MX_f_Allison/",
}


def split_of(prompt: str) -> str:
    """train / valid / test from the prompt's name, the same for both languages."""
    bucket = hashlib.sha256(prompt.encode("utf-8")).digest()[0] % 10
    return "train" if bucket < 7 else "valid" if bucket == 7 else "test"


def build(debs: dict[str, Path], out_dir: Path) -> None:
    samples: dict[str, list] = {split: [] for split in SPLITS}
    for language in LANGUAGES:
        root = _FOLDERS[language]
        files = read_members(debs[language], lambda p, r=root: p.startswith(r) and p.endswith(".wav"))
        for path in sorted(files):
            prompt = path[len(root) : -len(".wav")]
            key = f"{language}__{prompt.replace('/', '__').replace('.', '_')}"
            meta = {"label": language, "prompt": prompt}
            samples[split_of(prompt)].append((key, files[path], "wav", meta))
    for split, items in samples.items():
        write_shards(sorted(items, key=lambda s: s[0]), Path(out_dir), f"{split}-*.tar", 1)


def generate(out_dir: Path) -> None:
    build({"en": fetch(ASTERISK_EN_WAV, out_dir), "es": fetch(ASTERISK_ES_WAV, out_dir)}, out_dir)


generate.debian_packages = (ASTERISK_EN_WAV, ASTERISK_ES_WAV)  # read by `xares fetch --print-urls`
