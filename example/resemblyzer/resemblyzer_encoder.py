"""Resemblyzer's speaker encoder (GE2E d-vectors): real pretrained weights with no download.

The weights ship inside the `resemblyzer` wheel (resemblyzer/pretrained.pt). Install it with
`pip install --no-deps resemblyzer` (its own dependencies, librosa and webrtcvad, are not needed:
this file re-implements the small network, a 3-layer LSTM over 40 mel bands, and its mel front end
in torch, and reads the weights with torch.load(weights_only=True)).

One 256-d embedding every 100 ms at 16 kHz: frame t is the d-vector of the 1.6 s window centred at
t * 100 ms (the mel frames of the window, zero beyond the clip's ends), so a clip of N samples gives
N // 1600 + 1 frames. As in resemblyzer's preprocess_wav, the clip's volume is first raised to
-30 dBFS (never lowered); its voice-activity trimming is left out, as it would remove time frames.
The embeddings are non-negative and L2-normalised, as resemblyzer returns them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from xares.encoders import audio_features
from xares.encoders.audio_features import power_spectrogram, slaney_mel_filters

SAMPLING_RATE = 16000
MEL_HOP = 160  # 10 ms
WINDOW_FRAMES = 160  # 1.6 s, resemblyzer's partial utterance
STEP_FRAMES = 10  # 100 ms between embeddings
TARGET_DBFS = -30.0
INT16_MAX = 2**15 - 1


def bundled_weights() -> Path:
    """resemblyzer/pretrained.pt, found without importing the package (it imports librosa)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("resemblyzer's weights not found: pip install --no-deps resemblyzer")
    return Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"


class ResemblyzerEncoder(torch.nn.Module):
    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        self.sampling_rate = SAMPLING_RATE
        self.hop_size_in_ms = 1000 * STEP_FRAMES * MEL_HOP / SAMPLING_RATE
        self.output_dim = 256
        self.lstm = torch.nn.LSTM(40, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)
        path = Path(weights) if weights else bundled_weights()
        state = torch.load(path, map_location="cpu", weights_only=True)["model_state"]
        self.load_state_dict({k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))})
        self.register_buffer("window", torch.hann_window(400), persistent=False)
        filters = slaney_mel_filters(sampling_rate=SAMPLING_RATE, n_fft=400, n_mels=40)
        self.register_buffer("mel_filters", filters, persistent=False)
        self.fingerprint_files = [Path(audio_features.__file__)]  # the mel front end
        self.eval()

    @staticmethod
    def _raise_volume(audio: torch.Tensor) -> torch.Tensor:
        rms = torch.sqrt(torch.mean((audio * INT16_MAX) ** 2, dim=-1, keepdim=True))
        dbfs = 20 * torch.log10(torch.clamp(rms, min=1e-10) / INT16_MAX)
        gain = torch.where(
            rms > 0, 10 ** (torch.clamp(TARGET_DBFS - dbfs, min=0.0) / 20), torch.ones_like(rms)
        )
        return audio * gain

    def _windows(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, N] -> mel windows [B, T, 160, 40], T = N // 1600 + 1."""
        power = power_spectrogram(
            audio, n_fft=400, hop_length=MEL_HOP, window=self.window, pad_mode="constant"
        )
        mel = (self.mel_filters @ power).transpose(1, 2)  # [B, 1 + N // 160, 40]: power, not log
        count = audio.shape[-1] // (STEP_FRAMES * MEL_HOP) + 1
        half = WINDOW_FRAMES // 2
        needed = STEP_FRAMES * (count - 1) + WINDOW_FRAMES
        tail = max(0, needed - half - mel.shape[1])
        padded = torch.nn.functional.pad(mel, (0, 0, half, tail))
        return padded.unfold(1, WINDOW_FRAMES, STEP_FRAMES)[:, :count].transpose(2, 3)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        windows = self._windows(self._raise_volume(audio.float()))
        batch, count = windows.shape[:2]
        flat = windows.reshape(batch * count, WINDOW_FRAMES, -1)
        embeddings = []
        for group in flat.split(512):
            _, (hidden, _) = self.lstm(group)
            raw = torch.relu(self.linear(hidden[-1]))
            embeddings.append(raw / torch.clamp(raw.norm(dim=-1, keepdim=True), min=1e-12))
        return torch.cat(embeddings).reshape(batch, count, self.output_dim)
