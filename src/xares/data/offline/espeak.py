"""Speech on the machine, with no download: a minimal ctypes binding to the libespeak-ng that the
`espeakng-loader` wheel ships (library and voice data inside the wheel, so pip is all it takes).

libespeak-ng keeps global state (one voice, one set of parameters, one callback), so the library is
initialised once per process and every synthesis runs under one lock with all of its settings applied
afresh. Its random generators are re-seeded before each utterance, but some of its signal state (the
phase of pitch flutter, gain control, echo buffers) carries over from one utterance to the next, so
the samples of an utterance depend slightly on what the process spoke before. `synthesize` is fine for
listening; data generators use `synthesize_many`, which speaks a whole list in a fresh interpreter so
the output depends on the list alone.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from xares.errors import DataError

# Constants of speak_lib.h; the ABI has been stable since espeak 1.4x.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_RATE = 1
_ESPEAK_VOLUME = 2
_ESPEAK_PITCH = 3
_ESPEAK_RANGE = 4
_ESPEAK_WORDGAP = 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
_RAND_SEED = 12345

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class Utterance(NamedTuple):
    """One thing to say: the text, a voice ('en-us', 'en-gb-scotland+f3') and espeak's prosody knobs."""

    text: str
    voice: str
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50


class _Engine:
    """The initialised library plus the buffer its callback fills (only touched under `_LOCK`)."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise DataError(
                "the offline speech tasks need the 'espeakng-loader' package (libespeak-ng and its voice "
                "data as a wheel). Install it with `pip install espeakng-loader`."
            ) from exc
        library_path = espeakng_loader.get_library_path()
        self.data_path = Path(espeakng_loader.get_data_path())
        try:
            lib = ctypes.CDLL(str(library_path))
            self._declare(lib)
        except (OSError, AttributeError) as exc:
            raise DataError(
                f"could not load libespeak-ng from {library_path} ({exc}). Reinstall it with "
                "`pip install --force-reinstall espeakng-loader`."
            ) from exc
        self._set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.argtypes = [ctypes.c_long]
            self._set_seed.restype = None
        # Some of the library's noise sources draw from the C library's rand(); seed that too.
        try:
            self._srand = ctypes.CDLL(None).srand
            self._srand.argtypes = [ctypes.c_uint]
            self._srand.restype = None
        except (OSError, AttributeError):
            self._srand = None

        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), 0)
        if rate <= 0:
            raise DataError(
                f"libespeak-ng failed to initialise with its voice data at {self.data_path} (returned "
                f"{rate}). Reinstall it with `pip install --force-reinstall espeakng-loader`."
            )
        self.lib = lib
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        self._voice: str | None = None
        self._callback = _SynthCallback(self._collect)  # kept referenced: the library holds the pointer
        lib.espeak_SetSynthCallback(self._callback)

    @staticmethod
    def _declare(lib: ctypes.CDLL) -> None:
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int

    def _collect(self, wav: ctypes._Pointer, num_samples: int, _events: int | None) -> int:
        if wav and num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0  # 0 = go on synthesising

    def has_voice(self, voice: str) -> bool:
        # espeak silently ignores an unknown "+variant", so look for the variant's file ourselves.
        base, _, variant = voice.partition("+")
        if variant and not (self.data_path / "voices" / "!v" / variant).is_file():
            return False
        self._voice = None  # the base voice is now loaded, whatever was before
        return self.lib.espeak_SetVoiceByName(base.encode("utf-8")) == _EE_OK

    def speak(self, utterance: Utterance) -> np.ndarray:
        text, voice, rate, pitch, pitch_range = utterance
        if voice != self._voice:  # loading a voice costs as much as speaking a word: only on a change
            if not self.has_voice(voice) or self.lib.espeak_SetVoiceByName(voice.encode("utf-8")) != _EE_OK:
                raise DataError(
                    f"espeak-ng has no voice {voice!r}. Use a language id such as 'en-us', optionally with "
                    "a variant ('en-us+m3', 'en+f2'); `has_voice(name)` tells whether one exists."
                )
            self._voice = voice
        for parameter, value in (
            (_ESPEAK_RATE, rate),
            (_ESPEAK_PITCH, pitch),
            (_ESPEAK_RANGE, pitch_range),
            (_ESPEAK_VOLUME, 100),
            (_ESPEAK_WORDGAP, 0),
        ):
            self.lib.espeak_SetParameter(parameter, int(value), 0)
        if self._set_seed is not None:
            self._set_seed(_RAND_SEED)
        if self._srand is not None:
            self._srand(_RAND_SEED)
        payload = text.encode("utf-8")
        self._chunks = []
        status = self.lib.espeak_Synth(
            payload, len(payload) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        self.lib.espeak_Synchronize()
        chunks, self._chunks = self._chunks, []
        if status != _EE_OK:
            raise DataError(
                f"espeak-ng failed to synthesise {text!r} with voice {voice!r} (status {status})."
            )
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


_ENGINE: _Engine | None = None
_LOCK = threading.Lock()


def _engine() -> _Engine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Engine()
    return _ENGINE


def _check(utterance: Utterance) -> Utterance:
    utterance = Utterance(*utterance)
    if not 80 <= utterance.rate <= 450:
        raise DataError(f"espeak rate must be 80-450 words per minute, got {utterance.rate}")
    for name in ("pitch", "pitch_range"):
        value = getattr(utterance, name)
        if not 0 <= value <= 100:
            raise DataError(f"espeak {name} must be on the 0-100 scale, got {value}")
    return utterance


def has_voice(voice: str) -> bool:
    """Whether espeak-ng has `voice` (e.g. 'en-gb-scotland+f3'), so callers can build speakers that exist."""
    with _LOCK:
        return _engine().has_voice(voice)


def synthesize(
    text: str, voice: str, *, rate: int = 175, pitch: int = 50, pitch_range: int = 50
) -> tuple[np.ndarray, int]:
    """Speak `text` in this process; returns float32 samples in [-1, 1) and their sample rate.

    `rate` is in words per minute (80-450), `pitch` and `pitch_range` are espeak's 0-100 scales. The
    samples can differ slightly with what this process spoke before (see the module docstring); use
    `synthesize_many` where bit-exact repeatability matters.
    """
    utterance = _check(Utterance(text, voice, rate, pitch, pitch_range))
    with _LOCK:
        engine = _engine()
        return engine.speak(utterance).astype(np.float32) / 32768.0, engine.sample_rate


def synthesize_many(utterances: Sequence[Utterance]) -> tuple[list[np.ndarray], int]:
    """Speak a list in order in a fresh interpreter; the samples depend on the list alone.

    Returns float32 waveforms in [-1, 1) and their sample rate. One process start (a fraction of a
    second) buys bit-for-bit repeatable output, whatever this process did with espeak before.
    """
    checked = [list(_check(u)) for u in utterances]
    package_root = str(Path(__file__).resolve().parents[3])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    command = [sys.executable, "-c", "from xares.data.offline.espeak import _serve; _serve()"]
    try:
        done = subprocess.run(
            command, input=json.dumps(checked).encode("utf-8"), capture_output=True, env=env
        )
    except OSError as exc:
        raise DataError(
            f"could not start a Python worker for espeak-ng ({sys.executable!r}: {exc}). Run X-ARES from a "
            "regular Python interpreter, where sys.executable can be started."
        ) from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DataError(
            f"the espeak-ng worker process failed (exit {done.returncode}): "
            f"{message[-1] if message else 'no message'}"
        )
    with np.load(io.BytesIO(done.stdout), allow_pickle=False) as arrays:
        samples, lengths, rate = arrays["samples"], arrays["lengths"], int(arrays["rate"])
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    waves = [samples[a:b].astype(np.float32) / 32768.0 for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return waves, rate


def synthesize_grouped_by_voice(utterances: Sequence[Utterance]) -> tuple[list[np.ndarray], int]:
    """`synthesize_many`, speaking the list sorted by voice (a stable sort, so the speaking order is a
    fixed function of the list), with the waveforms returned in the list's own order. Loading a voice
    costs as much as speaking a word, so the data generators speak each voice's lines together."""
    by_voice = sorted(range(len(utterances)), key=lambda i: utterances[i].voice)
    spoken, rate = synthesize_many([utterances[i] for i in by_voice])
    waves: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(utterances)
    for position, index in enumerate(by_voice):
        waves[index] = spoken[position]
    return waves, rate


def trim_silence(wave: np.ndarray, rate: int) -> np.ndarray:
    """Cut espeak's leading and trailing silence, keeping 10 ms of margin."""
    loud = np.flatnonzero(np.abs(wave) > 0.02 * (np.max(np.abs(wave)) + 1e-9))
    if loud.size == 0:
        return wave
    margin = rate // 100
    return wave[max(0, loud[0] - margin) : loud[-1] + margin]


def _serve() -> None:
    """The worker of `synthesize_many`: a JSON list of utterances on stdin, an .npz on stdout."""
    requests = [Utterance(*item) for item in json.loads(sys.stdin.buffer.read().decode("utf-8"))]
    try:
        engine = _engine()
        waves = [engine.speak(u) for u in requests]
    except DataError as exc:
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(1) from None
    buffer = io.BytesIO()
    np.savez(
        buffer,
        samples=np.concatenate(waves) if waves else np.zeros(0, dtype=np.int16),
        lengths=np.array([w.size for w in waves], dtype=np.int64),
        rate=np.array(engine.sample_rate, dtype=np.int64),
    )
    sys.stdout.buffer.write(buffer.getvalue())
    sys.stdout.buffer.flush()
