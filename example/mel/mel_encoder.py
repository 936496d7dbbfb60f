"""A log-mel filterbank as an X-ARES encoder: the baseline that needs no download.

64 mel bands, 25 ms Hann window, 10 ms hop at 16 kHz. The signal is zero-padded by half a window on
both sides (not reflected), so frame t sees samples [160 t - 200, 160 t + 200): padding a clip with
zeros at its end leaves its first `frame_count(len)` frames exactly as they were, which lets the
pipeline batch clips of different lengths without changing any clip's embedding.
"""

import math

import torch


def _hz_to_mel(hz: float) -> float:
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def _mel_filterbank(n_mels: int, n_fft: int, sampling_rate: int, f_min: float, f_max: float) -> torch.Tensor:
    """Triangular HTK-style filters on the FFT bins, shape [n_fft // 2 + 1, n_mels]."""
    mel_points = torch.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2, dtype=torch.float64)
    hz_points = 700.0 * (10.0 ** (mel_points / 2595.0) - 1.0)
    bin_hz = torch.linspace(0.0, sampling_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    lower, centre, upper = hz_points[:-2], hz_points[1:-1], hz_points[2:]
    rising = (bin_hz[:, None] - lower[None, :]) / (centre - lower)[None, :]
    falling = (upper[None, :] - bin_hz[:, None]) / (upper - centre)[None, :]
    return torch.clamp(torch.minimum(rising, falling), min=0.0).to(torch.float32)


class MelEncoder(torch.nn.Module):
    def __init__(self, n_mels: int = 64) -> None:
        super().__init__()
        self.sampling_rate = 16000
        self.hop_size_in_ms = 10
        self.output_dim = n_mels
        self.n_fft = 400
        self.hop_length = 160
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.register_buffer("mel_matrix", _mel_filterbank(n_mels, self.n_fft, 16000, 0.0, 8000.0))

    def frame_count(self, num_samples: int) -> int:
        return num_samples // self.hop_length + 1

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        half = self.n_fft // 2
        padded = torch.nn.functional.pad(audio, (half, half))
        spectrum = torch.stft(
            padded,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=self.window,
            center=False,
            return_complex=True,
        )
        power = (spectrum.real.square() + spectrum.imag.square()).transpose(1, 2)  # [B, T', n_fft // 2 + 1]
        return torch.log(power @ self.mel_matrix + 1e-6)
