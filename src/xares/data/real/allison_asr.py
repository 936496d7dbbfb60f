"""Allison's US English Asterisk prompts with their transcripts, for ASR (asterisk-core-sounds-en[-wav]).

The audio is asterisk-core-sounds-en-wav (one professional speaker, 8 kHz 16-bit WAV); the transcripts
are `core-sounds-en.txt.gz` of asterisk-core-sounds-en, one `name: text` line per prompt. Prompts whose
transcript is a bracketed description ("[ascending tones]") are left out; the text is lower-cased with
punctuation other than apostrophes turned into spaces. Splits by prompt name (SHA-256: 70/10/20 %, the
rule of allison_languages), so no prompt is heard in two splits. Licence: CC-BY-SA-3.0 (Digium).
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from xares.data.debian import read_members
from xares.data.real.allison_languages import SPLITS, split_of
from xares.data.real.packages import ASTERISK_EN, ASTERISK_EN_WAV, fetch
from xares.data.shards import write_shards
from xares.errors import DataError

_AUDIO = "usr/share/asterisk/sounds/en_US_f_Allison/"
_TEXT = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"


def parse_transcripts(text: str) -> dict[str, str]:
    """Prompt name -> normalised transcript; comments, blank and bracketed lines left out."""
    out = {}
    for line in text.splitlines():
        name, sep, said = line.partition(":")
        if not sep or line.startswith(";") or not said.strip() or said.strip().startswith("["):
            continue
        words = re.sub(r"[^a-z0-9' ]+", " ", said.lower()).split()
        if words:
            out[name.strip()] = " ".join(words)
    return out


def build(audio_deb: Path, text_deb: Path, out_dir: Path) -> None:
    texts = read_members(text_deb, lambda p: p == _TEXT)
    if _TEXT not in texts:
        raise DataError(f"{text_deb}: no {_TEXT}; is this asterisk-core-sounds-en?")
    transcripts = parse_transcripts(gzip.decompress(texts[_TEXT]).decode("utf-8", "replace"))
    files = read_members(audio_deb, lambda p: p.startswith(_AUDIO) and p.endswith(".wav"))
    samples: dict[str, list] = {split: [] for split in SPLITS}
    for path in sorted(files):
        prompt = path[len(_AUDIO) : -len(".wav")]
        if prompt in transcripts:
            key = prompt.replace("/", "__").replace(".", "_")
            samples[split_of(prompt)].append((key, files[path], "wav", {"trans": transcripts[prompt]}))
    for split, items in samples.items():
        write_shards(items, Path(out_dir), f"{split}-*.tar", 1)


def generate(out_dir: Path) -> None:
    build(fetch(ASTERISK_EN_WAV, out_dir), fetch(ASTERISK_EN, out_dir), out_dir)


generate.debian_packages = (ASTERISK_EN_WAV, ASTERISK_EN)  # read by `xares fetch --print-urls`
