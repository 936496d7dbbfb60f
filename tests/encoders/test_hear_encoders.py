"""hear: encoders, with a small HEAR-API module written for the test."""

import textwrap

import pytest
import torch

from xares.audio_encoder_checker import find_contract_violations
from xares.encoder import encoder_fingerprint, load_encoder
from xares.errors import EncoderError

HEAR_MODULE = textwrap.dedent(
    '''
    """A HEAR 2021 API module: framed audio through a linear layer, one embedding per 25 ms."""
    import torch

    HOP = 400  # samples at 16 kHz = 25 ms
    WINDOW = 800


    class FramedLinear(torch.nn.Module):
        sample_rate = 16000
        scene_embedding_size = 12
        timestamp_embedding_size = 12

        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(WINDOW, 12)


    def load_model(model_file_path: str = "") -> torch.nn.Module:
        torch.manual_seed(0)
        model = FramedLinear()
        if model_file_path:
            model.load_state_dict(torch.load(model_file_path, weights_only=True))
        return model.eval()


    def get_timestamp_embeddings(audio: torch.Tensor, model: torch.nn.Module):
        padded = torch.nn.functional.pad(audio, (WINDOW // 2, WINDOW // 2))
        frames = padded.unfold(-1, WINDOW, HOP)  # [n_sounds, T, WINDOW]
        embeddings = torch.tanh(model.proj(frames))
        timestamps = torch.arange(frames.shape[1], dtype=torch.float64) * HOP / model.sample_rate * 1000
        return embeddings, timestamps.expand(audio.shape[0], -1)


    def get_scene_embeddings(audio: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
        return get_timestamp_embeddings(audio, model)[0].mean(dim=1)
    '''
)


@pytest.fixture
def hear_file(tmp_path):
    path = tmp_path / "framed_linear.py"
    path.write_text(HEAR_MODULE)
    return path


def test_a_hear_file_runs_as_an_encoder(hear_file):
    encoder = load_encoder(f"hear:{hear_file}")
    assert type(encoder).__name__ == "FramedLinearEncoder"
    assert (encoder.sampling_rate, encoder.output_dim) == (16000, 12)
    assert encoder.hop_size_in_ms == pytest.approx(25.0)  # derived from the timestamps
    assert find_contract_violations(encoder) == []
    with torch.inference_mode():
        frames = encoder(torch.randn(3, 16000))
    assert frames.shape == (3, 41, 12) and frames.dtype == torch.float32


def test_an_importable_module_and_a_weights_file(hear_file, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(hear_file.parent))
    plain = load_encoder("hear:framed_linear")
    weights = tmp_path / "weights.pt"
    state = {k: torch.randn_like(v) for k, v in plain.model.state_dict().items()}
    torch.save(state, weights)
    loaded = load_encoder(f"hear:framed_linear:{weights}")
    assert torch.equal(loaded.model.proj.weight, state["proj.weight"])
    assert encoder_fingerprint(loaded) != encoder_fingerprint(plain)
    other = tmp_path / "other.pt"
    torch.save({k: v + 1 for k, v in state.items()}, other)
    assert encoder_fingerprint(load_encoder(f"hear:framed_linear:{other}")) != encoder_fingerprint(loaded)


def test_modules_that_break_the_api_are_clear_errors(tmp_path):
    bad = tmp_path / "no_api.py"
    bad.write_text("def load_model(model_file_path=''):\n    return object()\n")
    with pytest.raises(EncoderError, match="lacks get_timestamp_embeddings"):
        load_encoder(f"hear:{bad}")
    with pytest.raises(EncoderError, match="cannot import"):
        load_encoder("hear:no_such_hear_module_xyz")
    wrong = tmp_path / "wrong_shape.py"
    wrong.write_text(
        HEAR_MODULE.replace("return embeddings, timestamps.expand", "return embeddings[0], timestamps.expand")
    )
    with pytest.raises(EncoderError, match=r"embeddings \[n_sounds, T, D\]"):
        load_encoder(f"hear:{wrong}")


def test_missing_weights_file_is_named(hear_file, tmp_path):
    with pytest.raises(EncoderError, match="does not exist"):
        load_encoder(f"hear:{hear_file}:{tmp_path / 'absent.pt'}")
