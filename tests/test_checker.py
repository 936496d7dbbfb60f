import logging
from pathlib import Path

import pytest
import torch

from xares.audio_encoder_checker import check_audio_encoder, find_contract_violations
from xares.encoder import load_encoder

ROOT = Path(__file__).resolve().parents[1]


class FramingEncoder(torch.nn.Module):
    """Frames of `emit_hop` samples; everything else configurable to break one rule at a time."""

    def __init__(self, declared_hop_ms=10, emit_hop=160, dim=8, nan=False, dtype=torch.float32, flat_ok=True):
        super().__init__()
        self.sampling_rate = 16000
        self.hop_size_in_ms = declared_hop_ms
        self.output_dim = dim
        self.emit_hop, self.nan, self.dtype, self.flat_ok = emit_hop, nan, dtype, flat_ok

    def forward(self, audio):
        if audio.dim() == 1:
            if not self.flat_ok:
                raise ValueError("expected [B, T]")
            audio = audio.unsqueeze(0)
        frames = audio.shape[1] // self.emit_hop
        out = audio[:, : frames * self.emit_hop].reshape(audio.shape[0], frames, self.emit_hop)[..., :8]
        if self.nan:
            out = out.clone()
            out[0, 0, 0] = float("nan")
        return out.to(self.dtype)


def rules(encoder):
    return [f.rule for f in find_contract_violations(encoder)]


def test_the_built_in_encoders_pass():
    for path in ("example/mel/mel_encoder.py", "example/random/random_encoder.py"):
        assert check_audio_encoder(load_encoder(ROOT / path))


def test_a_good_encoder_passes():
    assert rules(FramingEncoder()) == []


def test_wrong_hop_is_measured_and_reported(caplog):
    # like the public Whisper baseline: declares 10 ms, emits 20 ms frames
    encoder = FramingEncoder(declared_hop_ms=10, emit_hop=320)
    with caplog.at_level(logging.ERROR):
        assert not check_audio_encoder(encoder)
    assert (
        "hop_size_in_ms" in caplog.text
        and "20.00 ms" in caplog.text
        and "set hop_size_in_ms = 20" in caplog.text
    )


@pytest.mark.parametrize(
    ("encoder", "rule"),
    [
        (FramingEncoder(nan=True), "finite"),
        (FramingEncoder(dim=16), "output_dim"),
        (FramingEncoder(dtype=torch.float16), "dtype"),
        (FramingEncoder(flat_ok=False), "1-D input"),
    ],
)
def test_each_broken_rule_is_named(encoder, rule):
    assert rule in rules(encoder)


def test_class_name_and_module_type():
    class Thing(torch.nn.Module):
        sampling_rate, hop_size_in_ms, output_dim = 16000, 10, 8

        def forward(self, audio):
            return FramingEncoder()(audio)

    assert "class name" in rules(Thing())
    assert rules(object())[:2] == ["class name", "module type"]


def test_fixed_length_output_is_caught():
    class PadTo30sEncoder(FramingEncoder):
        def forward(self, audio):
            padded = torch.nn.functional.pad(audio if audio.dim() == 2 else audio[None], (0, 16000 * 6))
            return super().forward(padded[:, : 16000 * 6])

    assert "frame rate" in rules(PadTo30sEncoder())


def test_broken_padding_promise_is_caught():
    class GlobalNormEncoder(FramingEncoder):
        def frame_count(self, num_samples):
            return num_samples // 160

        def forward(self, audio):
            out = super().forward(audio)
            return out - out.mean(dim=1, keepdim=True)  # every frame depends on the padding

    assert "padding" in rules(GlobalNormEncoder())


def test_non_determinism_is_caught():
    class NoisyEncoder(FramingEncoder):
        def forward(self, audio):
            out = super().forward(audio)
            return out + torch.rand_like(out)

    assert "determinism" in rules(NoisyEncoder())
