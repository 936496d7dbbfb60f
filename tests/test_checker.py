import logging
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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


class StftBlockEncoder(torch.nn.Module):
    """The issue's coarse encoder: 100-frame blocks of a 1024-sample STFT at 44.1 kHz, every 50 frames.

    It truly hops 50 * 1024 / 44100 s = 1161 ms; an input shorter than one block gives one block.
    """

    def __init__(self, declared_hop_ms=50 * 1024 / 44.1):
        super().__init__()
        self.sampling_rate, self.output_dim, self.hop_size_in_ms = 44100, 4, declared_hop_ms

    def forward(self, audio):
        audio = audio if audio.dim() == 2 else audio.unsqueeze(0)
        stft_frames = audio.shape[1] // 1024
        blocks = max(1, (stft_frames - 100) // 50 + 1)
        return audio[:, :1, None].expand(audio.shape[0], blocks, 4).float().contiguous()


def test_the_coarse_stft_block_encoder_of_the_issue_passes(caplog):
    with caplog.at_level(logging.INFO):
        assert rules(StftBlockEncoder()) == []
    assert "declared 1161 ms" in caplog.text and "measured 1161.00 ms" in caplog.text  # the numbers used


def test_a_coarse_encoder_declaring_a_fine_hop_gets_the_coarse_fix():
    (failure,) = find_contract_violations(StftBlockEncoder(declared_hop_ms=10))
    assert failure.rule == "hop_size_in_ms"
    fix = float(failure.fix.rsplit("=", 1)[1])
    assert abs(fix - 1161.0) / 1161.0 < 0.06, failure


RATES = st.sampled_from([8000, 16000, 22050, 24000, 44100, 48000])


class RuleFramingEncoder(torch.nn.Module):
    """Frames of `hop` samples over windows of `window` samples, centred or not, the last partial
    frame dropped or zero-padded; an input shorter than one window is padded to one window."""

    def __init__(self, rate, hop, window, center, pad_end, declared_hop_ms):
        super().__init__()
        self.sampling_rate, self.output_dim, self.hop_size_in_ms = rate, 3, declared_hop_ms
        self.hop, self.window, self.center, self.pad_end = hop, window, center, pad_end

    def frames(self, length):
        length += 2 * (self.window // 2) if self.center else 0
        if length <= self.window:
            return 1
        steps = (length - self.window) / self.hop
        return (math.ceil(steps) if self.pad_end else math.floor(steps)) + 1

    def forward(self, audio):
        audio = audio if audio.dim() == 2 else audio.unsqueeze(0)
        count = self.frames(audio.shape[1])
        return audio[:, :1, None].expand(audio.shape[0], count, 3).float().contiguous()


@st.composite
def framings(draw):
    rate = draw(RATES)
    hop_ms = draw(st.floats(min_value=5.0, max_value=5000.0))
    hop = max(1, round(hop_ms * rate / 1000))
    window = max(1, round(hop * draw(st.floats(min_value=0.5, max_value=4.0))))
    return rate, hop, window, draw(st.booleans()), draw(st.booleans())


@settings(max_examples=40, deadline=None)
@given(framings())
def test_every_true_hop_passes(framing):
    rate, hop, window, center, pad_end = framing
    true_ms = 1000.0 * hop / rate
    encoder = RuleFramingEncoder(rate, hop, window, center, pad_end, declared_hop_ms=true_ms)
    assert "hop_size_in_ms" not in rules(encoder), framing


@settings(max_examples=40, deadline=None)
@given(framings(), st.sampled_from([0.5, 2.0, 3.0, 0.25]))
def test_a_wrong_hop_fails_with_the_measured_fix(framing, factor):
    rate, hop, window, center, pad_end = framing
    true_ms = 1000.0 * hop / rate
    encoder = RuleFramingEncoder(rate, hop, window, center, pad_end, declared_hop_ms=true_ms * factor)
    failures = [f for f in find_contract_violations(encoder) if f.rule == "hop_size_in_ms"]
    assert len(failures) == 1, framing
    fix = float(failures[0].fix.rsplit("=", 1)[1])
    assert abs(fix - true_ms) / true_ms < 0.06, (framing, failures[0])  # at least ~20 hops measured


@given(st.floats(min_value=1.0, max_value=10000.0), RATES)
def test_the_measuring_span_holds_enough_hops(hop_ms, rate):
    from xares.audio_encoder_checker import MAX_SPAN_S, MIN_MEASURED_FRAMES, hop_lengths

    short, long = hop_lengths(rate, hop_ms)
    span_s = (long - short) / rate
    assert short >= 4 * hop_ms / 1000 * rate - 1
    assert span_s * 1000 / hop_ms >= MIN_MEASURED_FRAMES - 0.01 or span_s >= MAX_SPAN_S - 1 / rate


def test_a_hop_of_seconds_declared_as_10_ms_is_measured_not_called_fixed_length():
    # frames every 4 s over 6 s windows: 2 s and 5 s inputs both give one frame
    encoder = RuleFramingEncoder(16000, 64000, 96000, False, False, declared_hop_ms=10)
    (failure,) = [f for f in find_contract_violations(encoder) if f.rule in {"hop_size_in_ms", "frame rate"}]
    assert failure.rule == "hop_size_in_ms"
    assert abs(float(failure.fix.rsplit("=", 1)[1]) - 4000) / 4000 < 0.06, failure
