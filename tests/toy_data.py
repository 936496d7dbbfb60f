"""A tiny, fast task for the core's tests: three tone classes with noise, variable clip lengths."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xares.data.shards import audio_to_bytes, write_shards

TONES = {"low": 300.0, "mid": 900.0, "high": 2700.0}


def toy_clip(rng: np.random.Generator, hz: float, rate: int) -> np.ndarray:
    seconds = rng.uniform(0.4, 1.2)
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * hz * rng.uniform(0.95, 1.05) * t) + 0.05 * rng.standard_normal(t.size)
    return wave.astype(np.float32)


def write_toy_shards(
    out_dir: Path, *, seed: int = 0, per_class: dict[str, int] | None = None, rate: int = 16000
) -> None:
    per_class = per_class or {"train": 12, "valid": 4, "test": 6}
    rng = np.random.default_rng(seed)
    for split, count in per_class.items():
        samples = []
        for name, hz in TONES.items():
            for i in range(count):
                wave = toy_clip(rng, hz, rate)
                samples.append(
                    (f"{split}_{name}_{i:03d}", audio_to_bytes(wave, rate), "wav", {"label": name})
                )
        order = rng.permutation(len(samples))
        write_shards([samples[i] for i in order], out_dir, f"{split}-*.tar", num_shards=2)


TASK_FILE = """
from pathlib import Path
import sys
sys.path.insert(0, {tests_dir!r})
import toy_data
from toy_data import TONES
from xares.task import TaskConfig

NAMES = list(TONES)


def toy_label(meta):
    return NAMES.index(meta["label"])


def toy_config(encoder):
    return TaskConfig(
        name={name!r},
        formal_name="Toy Tones",
        encoder=encoder,
        generator={generator},
        label_processor=toy_label,
        output_dim=3,
        epochs=5,
        batch_size_train=8,
        {extra}
    )
"""


def make_task_file(
    directory: Path, name: str = "toy", extra: str = "", generator: str = "toy_data.write_toy_shards"
) -> Path:
    path = directory / f"{name}_task.py"
    path.write_text(
        TASK_FILE.format(tests_dir=str(Path(__file__).parent), name=name, extra=extra, generator=generator)
    )
    return path


def write_toy_shards_with_bad_audio(out_dir: Path) -> None:
    """Good toy shards plus one test shard whose sample 'broken_clip' holds garbage bytes."""
    write_toy_shards(out_dir)
    write_shards(
        [("broken_clip", b"RIFF but not really a wav file" * 8, "wav", {"label": "low"})],
        out_dir,
        "test-*.tar".replace("*", "9*"),
    )


def write_toy_shards_with_bad_label(out_dir: Path) -> None:
    """Good toy shards plus a test sample labelled 'purple', which is no class."""
    write_toy_shards(out_dir)
    rng = np.random.default_rng(5)
    wave = toy_clip(rng, 300.0, 16000)
    write_shards(
        [("purple_clip", audio_to_bytes(wave, 16000), "wav", {"label": "purple"})], out_dir, "test-9*.tar"
    )


def write_toy_shards_with_long_clip(out_dir: Path) -> None:
    """Good toy shards plus an 8 s test clip (the failing encoder of the tests refuses > 6 s)."""
    write_toy_shards(out_dir)
    wave = (0.1 * np.random.default_rng(6).standard_normal(8 * 16000)).astype(np.float32)
    write_shards(
        [("long_clip", audio_to_bytes(wave, 16000), "wav", {"label": "low"})], out_dir, "test-9*.tar"
    )


REFUSES_LONG_INPUT = """
import torch


class ShortOnlyEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.sampling_rate = 16000
        self.hop_size_in_ms = 10
        self.output_dim = 4

    def forward(self, audio):
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        if audio.shape[-1] > 6 * 16000:
            raise RuntimeError("input longer than 6 s")
        frames = audio.shape[-1] // 160 + 1
        padded = torch.nn.functional.pad(audio, (0, frames * 160 - audio.shape[-1]))
        blocks = padded.reshape(audio.shape[0], frames, 160)
        stats = [blocks.std(-1), blocks.abs().mean(-1), blocks.mean(-1), blocks.max(-1).values]
        return torch.stack(stats, -1)
"""


def _bad_member_tar(out_dir: Path, members: list[tuple[str, bytes]], name: str = "test-900000.tar") -> None:
    import io
    import tarfile

    with tarfile.open(out_dir / name, "w", format=tarfile.PAX_FORMAT) as tar:
        for member, payload in members:
            info = tarfile.TarInfo(member)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def _wav(
    seconds: float = 0.5, rate: int = 16000, channels: int = 1, subtype: str | None = None, fmt: str = "WAV"
) -> bytes:
    rng = np.random.default_rng(9)
    wave = toy_clip(rng, 300.0, rate)[: int(seconds * rate)]
    if channels > 1:
        wave = np.stack([wave] * channels, axis=1)
    return audio_to_bytes(wave, rate, fmt, subtype)


def write_toy_shards_with(out_dir: Path, kind: str) -> None:
    """Good toy shards plus one test shard holding a sample of the given kind (see FAULT_KINDS)."""
    write_toy_shards(out_dir)
    label = b'{"label": "low"}'
    if kind == "truncated_tar":
        write_shards(
            [(f"cut{i}", _wav(1.0), "wav", {"label": "low"}) for i in range(3)], out_dir, "test-9*.tar"
        )
        path = out_dir / "test-9000000.tar"
        path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    elif kind == "garbage_audio":
        _bad_member_tar(out_dir, [("bad_clip.wav", b"\x00garbage" * 40), ("bad_clip.json", label)])
    elif kind == "zero_length_audio":
        _bad_member_tar(
            out_dir,
            [("bad_clip.wav", audio_to_bytes(np.zeros(0, np.float32), 16000)), ("bad_clip.json", label)],
        )
    elif kind == "nan_audio":
        wave = np.zeros(4000, np.float32)
        wave[100] = np.nan
        _bad_member_tar(
            out_dir, [("bad_clip.wav", audio_to_bytes(wave, 16000, "WAV", "FLOAT")), ("bad_clip.json", label)]
        )
    elif kind == "bad_json":
        _bad_member_tar(out_dir, [("bad_clip.wav", _wav()), ("bad_clip.json", b"{label: low")])
    elif kind == "unknown_label":
        _bad_member_tar(out_dir, [("bad_clip.wav", _wav()), ("bad_clip.json", b'{"label": "purple"}')])
    elif kind == "non_utf8_key":
        _bad_member_tar(
            out_dir,
            [
                (
                    "bad_clip\udcff.wav".encode("utf-8", "surrogateescape").decode(
                        "utf-8", "surrogateescape"
                    ),
                    _wav(),
                ),
                ("bad_clip\udcff.json", label),
            ],
        )
    elif kind == "duplicate_key":
        _bad_member_tar(
            out_dir,
            [
                ("bad_clip.wav", _wav()),
                ("bad_clip.json", label),
                ("other.wav", _wav()),
                ("other.json", label),
                ("bad_clip.flac", _wav(fmt="FLAC")),
                ("bad_clip.json", label),
            ],
        )
    elif kind == "empty_split":
        for path in out_dir.glob("valid-*.tar"):
            path.unlink()
        _bad_member_tar(out_dir, [], name="valid-000000.tar")
    elif kind in ODD_BUT_VALID:
        _bad_member_tar(
            out_dir,
            [("odd_clip." + ODD_BUT_VALID[kind][1], ODD_BUT_VALID[kind][0]()), ("odd_clip.json", label)],
        )
    else:
        raise ValueError(kind)


ODD_BUT_VALID = {
    "stereo": (lambda: _wav(channels=2), "wav"),
    "pcm_u8": (lambda: _wav(subtype="PCM_U8"), "wav"),
    "pcm_24": (lambda: _wav(subtype="PCM_24"), "wav"),
    "float_wav": (lambda: _wav(subtype="FLOAT"), "wav"),
    "rate_8k": (lambda: _wav(rate=8000), "wav"),
    "rate_48k": (lambda: _wav(rate=48000), "wav"),
    "rate_44k1": (lambda: _wav(rate=44100), "wav"),
    "shorter_than_a_frame": (lambda: audio_to_bytes(np.full(5, 0.1, np.float32), 16000), "wav"),
    "mp3": (lambda: _wav(fmt="MP3"), "mp3"),
}
