"""The Dasheng wrapper (example/dasheng): chunking, frame counts, the contract and the weights message.

The `dasheng` package imports torchaudio, whose PyPI build needs CUDA libraries, so most tests wrap a
small Dasheng-like model built here (random weights; same front end geometry: 16 kHz, 10 ms mel hop,
patches of 4 frames, at most 252 patches = 10.08 s per call, like dasheng_base). That model refuses
longer input, so the tests prove the wrapper chunks. Where `import dasheng` works, the real
architecture is tested too (random weights, no download).
"""

import urllib.error
from pathlib import Path

import pytest
import torch

from xares.audio_encoder_checker import find_contract_violations
from xares.encoder import encoder_fingerprint, import_file

EXAMPLE = Path(__file__).resolve().parents[2] / "example" / "dasheng" / "dasheng_encoder.py"
dasheng_example = import_file(EXAMPLE, purpose="encoder")
DashengEncoder = dasheng_example.DashengEncoder


class DashengLike(torch.nn.Module):
    """Log-mel (512-point FFT, 10 ms hop, centred) -> BatchNorm -> 4-frame patches -> transformer."""

    max_patches = 252

    def __init__(self, embed_dim: int = 24, n_mels: int = 64) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed_dim = embed_dim
        self.register_buffer("window", torch.hann_window(512), persistent=False)
        self.register_buffer("mel", torch.rand(257, n_mels) / 10)
        self.init_bn = torch.nn.BatchNorm1d(n_mels)
        self.patch_embed = torch.nn.Conv2d(1, embed_dim, kernel_size=(n_mels, 4), stride=(n_mels, 4))
        self.time_pos_embed = torch.nn.Parameter(torch.randn(1, self.max_patches, embed_dim) * 0.02)
        layer = torch.nn.TransformerEncoderLayer(embed_dim, 2, 48, dropout=0.0, batch_first=True)
        self.blocks = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(embed_dim)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio, 512, 160, window=self.window, center=True, return_complex=True).abs() ** 2
        mel = 10 * torch.log10(torch.clamp(spec.transpose(1, 2) @ self.mel, min=1e-10))  # [B, T, n_mels]
        x = self.init_bn(mel.transpose(1, 2)).unsqueeze(1)  # [B, 1, n_mels, T]
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # [B, T // 4, D]
        if x.shape[1] > self.max_patches:
            raise ValueError(f"{x.shape[1]} patches: longer than the 10.08 s this model attends over")
        return self.norm(self.blocks(x + self.time_pos_embed[:, : x.shape[1]]))


@pytest.fixture(scope="module")
def encoder():
    return DashengEncoder(DashengLike()).eval()


def _audio(seconds: float, seed: int = 0, batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, int(seconds * 16000), generator=torch.Generator().manual_seed(seed)) * 0.1


def test_passes_the_checker(encoder):
    assert find_contract_violations(encoder) == []
    with torch.inference_mode():
        assert encoder(_audio(50000 / 16000, batch=2)).shape == (2, 78, 24)  # the checker's own example


def test_long_audio_runs_in_10s_chunks_with_frames_concatenated(encoder):
    audio = _audio(25.0)
    with torch.inference_mode():
        frames = encoder(audio)
        model = encoder.model
        expected = torch.cat(
            [model(audio[:, :160000]), model(audio[:, 160000:320000]), model(audio[:, 320000:])], dim=1
        )
    assert frames.shape == (1, 250 + 250 + 125, 24) == (1, (400000 // 160 + 1) // 4, 24)
    assert torch.allclose(frames, expected, atol=1e-5)


def test_short_last_chunk_is_padded_to_1s_and_trimmed_to_real_audio(encoder):
    audio = _audio(10.3, seed=1)
    with torch.inference_mode():
        frames = encoder(audio)
        last = encoder.model(torch.nn.functional.pad(audio[:, 160000:], (0, 16000 - 4800)))
    assert frames.shape[1] == 250 + (4800 // 160 + 1) // 4
    assert torch.allclose(frames[:, 250:], last[:, :7], atol=1e-5)
    with torch.inference_mode():
        assert encoder(_audio(0.2)).shape == (1, 5, 24)
        assert encoder(torch.zeros(1, 100)).shape == (1, 1, 24)  # at least one frame


def test_new_weights_give_a_new_fingerprint(encoder):
    other = DashengLike()
    with torch.no_grad():
        other.norm.weight.add_(0.5)
    assert encoder_fingerprint(DashengEncoder(other)) != encoder_fingerprint(encoder)


def test_offline_message_says_where_the_weights_come_from(monkeypatch, tmp_path):
    monkeypatch.delenv(dasheng_example.CHECKPOINT_ENV, raising=False)

    def offline(path=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    with pytest.raises(RuntimeError) as info:
        dasheng_example.load_dasheng_base(offline)
    message = str(info.value)
    assert "https://zenodo.org/records/11511780/files/dasheng_base.pt" in message
    assert dasheng_example.CHECKPOINT_ENV in message and "checkpoints" in message


def test_checkpoint_from_the_environment(monkeypatch, tmp_path):
    checkpoint = tmp_path / "dasheng_base.pt"
    monkeypatch.setenv(dasheng_example.CHECKPOINT_ENV, str(checkpoint))
    with pytest.raises(FileNotFoundError, match="zenodo"):
        dasheng_example.load_dasheng_base(lambda path=None: None)
    checkpoint.write_bytes(b"")
    seen = []
    dasheng_example.load_dasheng_base(lambda path=None: seen.append(path) or DashengLike())
    assert seen == [str(checkpoint)]


def test_the_real_dasheng_architecture():
    try:
        from dasheng.pretrained.pretrained import Dasheng
    except (ImportError, OSError) as exc:  # OSError: a torchaudio built for CUDA on a CPU-only torch
        pytest.skip(f"the dasheng package cannot be imported here: {type(exc).__name__}: {exc}")
    model = Dasheng(embed_dim=32, depth=1, num_heads=2)  # random weights: nothing downloaded
    encoder = DashengEncoder(model).eval()
    assert find_contract_violations(encoder) == []
    with torch.inference_mode():
        assert encoder(_audio(12.0)).shape == (1, (192000 // 160 + 1) // 4, 32)
