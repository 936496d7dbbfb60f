"""Spectrogram front ends shared by encoder wrappers: Slaney mel filters and Whisper's log-mel.

Pure torch, so wrappers around non-torch models (CTranslate2, ONNX) need no audio library. The
Slaney mel scale is linear below 1 kHz and logarithmic above it, and each triangle is scaled to
unit area ("slaney" normalisation), as in librosa's default `mel` and in Whisper.
"""

from __future__ import annotations

import math

import torch

_F_SP = 200.0 / 3.0  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = math.log(6.4) / 27.0


def hz_to_slaney_mel(hz: torch.Tensor) -> torch.Tensor:
    linear = hz / _F_SP
    logarithmic = _MIN_LOG_MEL + torch.log(torch.clamp(hz, min=_MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP
    return torch.where(hz >= _MIN_LOG_HZ, logarithmic, linear)


def slaney_mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    linear = mel * _F_SP
    logarithmic = _MIN_LOG_HZ * torch.exp(_LOG_STEP * (mel - _MIN_LOG_MEL))
    return torch.where(mel >= _MIN_LOG_MEL, logarithmic, linear)


def slaney_mel_filters(
    *, sampling_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """Triangular filters on the rfft bins, shape [n_mels, n_fft // 2 + 1], float32."""
    f_max = sampling_rate / 2 if f_max is None else f_max
    bins_hz = torch.linspace(0.0, sampling_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges_mel = torch.linspace(
        float(hz_to_slaney_mel(torch.tensor(f_min, dtype=torch.float64))),
        float(hz_to_slaney_mel(torch.tensor(f_max, dtype=torch.float64))),
        n_mels + 2,
        dtype=torch.float64,
    )
    edges_hz = slaney_mel_to_hz(edges_mel)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bins_hz[None, :]) / (upper - centre)
    filters = torch.clamp(torch.minimum(rising, falling), min=0.0)
    filters *= 2.0 / (upper - lower)  # unit area per triangle
    return filters.to(torch.float32)


def power_spectrogram(
    audio: torch.Tensor, *, n_fft: int, hop_length: int, window: torch.Tensor, pad_mode: str = "reflect"
) -> torch.Tensor:
    """|STFT|^2 of audio [B, N], centred frames (1 + N // hop_length of them): [B, n_fft // 2 + 1, T]."""
    half = n_fft // 2
    mode = pad_mode if audio.shape[-1] > half else "constant"  # reflect needs more samples than the pad
    padded = torch.nn.functional.pad(audio.unsqueeze(1), (half, half), mode=mode).squeeze(1)
    spectrum = torch.stft(
        padded, n_fft=n_fft, hop_length=hop_length, window=window, center=False, return_complex=True
    )
    return spectrum.real.square() + spectrum.imag.square()


class WhisperLogMel(torch.nn.Module):
    """Whisper's input features: 10 ms log-mel frames (N // 160 of them), clamped 8 decades below the
    clip's maximum and scaled to about [-1, 1]."""

    def __init__(self, n_mels: int = 80, sampling_rate: int = 16000) -> None:
        super().__init__()
        self.n_fft, self.hop_length = 400, 160
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        filters = slaney_mel_filters(sampling_rate=sampling_rate, n_fft=self.n_fft, n_mels=n_mels)
        self.register_buffer("filters", filters, persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [B, N] -> features [B, n_mels, N // 160]."""
        power = power_spectrogram(audio, n_fft=self.n_fft, hop_length=self.hop_length, window=self.window)
        mel = self.filters @ power[..., :-1]
        log_mel = torch.log10(torch.clamp(mel, min=1e-10))
        ceiling = log_mel.amax(dim=(-2, -1), keepdim=True)
        return (torch.maximum(log_mel, ceiling - 8.0) + 4.0) / 4.0
