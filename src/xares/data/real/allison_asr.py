"""Allison's US English Asterisk prompts with their transcripts, for ASR (asterisk-core-sounds-en[-wav]).

The audio is asterisk-core-sounds-en-wav (one professional speaker, 8 kHz 16-bit WAV); the transcripts
are `core-sounds-en.txt.gz` of asterisk-core-sounds-en, one `name: text` line per prompt. Prompts whose
transcript is a bracketed description ("[ascending tones]") are left out; the text is lower-cased with
punctuation other than apostrophes turned into spaces, and a single digit is written as its word
("press 1" is said "press one"); prompts with longer numbers ("4242", "8500", "3d") are left out, as
their spoken form is not in the text. Prompts longer than 8 s (a few long announcements) are left out
too: they would pad every batch they fall in to their length.

Closed vocabulary, new sentences: the probe learns to spell from about 20 minutes of one speaker, too
little to spell words it never heard, so the test measures what it can: recognising known words in
prompts it never heard. Splits by prompt name (SHA-256 bucket: 60 % train, 10 % valid, 30 % test
candidates), then every valid or test candidate holding a word that no train candidate holds moves to
train; no prompt is in two splits. Licence: CC-BY-SA-3.0 (Digium).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
from pathlib import Path

import soundfile as sf

from xares.data.debian import read_members
from xares.data.real.allison_languages import SPLITS
from xares.data.real.packages import ASTERISK_EN, ASTERISK_EN_WAV, fetch
from xares.data.shards import write_shards
from xares.errors import DataError

_AUDIO = "usr/share/asterisk/sounds/en_US_f_Allison/"
_TEXT = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
MAX_SECONDS = 8.0
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def parse_transcripts(text: str) -> dict[str, str]:
    """Prompt name -> normalised transcript; comments, blank, bracketed and long-number lines left out."""
    out = {}
    for line in text.splitlines():
        name, sep, said = line.partition(":")
        if not sep or line.startswith(";") or not said.strip() or said.strip().startswith("["):
            continue
        words = [DIGITS[int(w)] if w.isdigit() and len(w) == 1 else w for w in _words(said)]
        if words and not any(any(c.isdigit() for c in w) for w in words):
            out[name.strip()] = " ".join(words)
    return out


def _words(said: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", said.lower()).split()


def candidate_split(prompt: str) -> str:
    """train / valid / test candidate from the prompt's name: 60 / 10 / 30 %."""
    bucket = hashlib.sha256(prompt.encode("utf-8")).digest()[0] % 10
    return "test" if bucket < 3 else "valid" if bucket == 3 else "train"


def closed_vocabulary_splits(transcripts: dict[str, str]) -> dict[str, str]:
    """prompt -> split: a valid or test candidate with a word no train candidate holds goes to train."""
    candidates = {prompt: candidate_split(prompt) for prompt in transcripts}
    known = {
        w for prompt, split in candidates.items() if split == "train" for w in transcripts[prompt].split()
    }
    return {
        prompt: split if split == "train" or set(transcripts[prompt].split()) <= known else "train"
        for prompt, split in candidates.items()
    }


def wav_seconds(data: bytes, name: str) -> float:
    try:
        info = sf.info(io.BytesIO(data))
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise DataError(f"{name}: not a readable WAV file ({exc}); is the package damaged?") from exc
    return info.frames / info.samplerate


def build(audio_deb: Path, text_deb: Path, out_dir: Path) -> None:
    texts = read_members(text_deb, lambda p: p == _TEXT)
    if _TEXT not in texts:
        raise DataError(f"{text_deb}: no {_TEXT}; is this asterisk-core-sounds-en?")
    transcripts = parse_transcripts(gzip.decompress(texts[_TEXT]).decode("utf-8", "replace"))
    files = read_members(audio_deb, lambda p: p.startswith(_AUDIO) and p.endswith(".wav"))
    kept = {}
    for path in sorted(files):
        prompt = path[len(_AUDIO) : -len(".wav")]
        if prompt in transcripts and wav_seconds(files[path], path) <= MAX_SECONDS:
            kept[prompt] = path
    splits = closed_vocabulary_splits({prompt: transcripts[prompt] for prompt in kept})
    samples: dict[str, list] = {split: [] for split in SPLITS}
    for prompt, path in kept.items():
        key = prompt.replace("/", "__").replace(".", "_")
        samples[splits[prompt]].append((key, files[path], "wav", {"trans": transcripts[prompt]}))
    for split, items in samples.items():
        write_shards(items, Path(out_dir), f"{split}-*.tar", 1)


def generate(out_dir: Path) -> None:
    build(fetch(ASTERISK_EN_WAV, out_dir), fetch(ASTERISK_EN, out_dir), out_dir)


generate.debian_packages = (ASTERISK_EN_WAV, ASTERISK_EN)  # read by `xares fetch --print-urls`
