"""A Dasheng-base-sized audio transformer with random weights, for throughput benchmarks only.

Shape of the public baseline (dasheng_base): 64 Slaney mel bands at 16 kHz with a 10 ms hop, patches
of 64 bands x 4 frames (one token per 40 ms), 12 pre-norm transformer layers of width 768 with 12
heads, 10 s windows (250 tokens); longer audio is cut into 10 s windows, encoded as one batch, and
the tokens are concatenated. About 86 M parameters. The weights are random (seeded): the point is the
cost of the forward pass, not the quality of the embedding.

    from transformer_encoder import DashengSizedEncoder   # or pass this file to xares / the benchmarks
"""

from __future__ import annotations

import torch

from xares.encoders.audio_features import power_spectrogram, slaney_mel_filters

WINDOW_SECONDS = 10.0


class DashengSizedEncoder(torch.nn.Module):
    def __init__(self, *, width: int = 768, depth: int = 12, heads: int = 12, seed: int = 0) -> None:
        super().__init__()
        self.sampling_rate = 16000
        self.hop_size_in_ms = 40
        self.output_dim = width
        self.n_fft, self.hop_length, self.n_mels, self.patch_frames = 512, 160, 64, 4
        self.window_samples = int(WINDOW_SECONDS * self.sampling_rate)
        tokens_per_window = self.window_samples // self.hop_length // self.patch_frames
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("stft_window", torch.hann_window(self.n_fft), persistent=False)
        self.register_buffer(
            "mel_filters",
            slaney_mel_filters(sampling_rate=self.sampling_rate, n_fft=self.n_fft, n_mels=self.n_mels),
            persistent=False,
        )
        self.patch = torch.nn.Linear(self.n_mels * self.patch_frames, width)
        self.position = torch.nn.Parameter(
            0.02 * torch.randn(1, tokens_per_window, width, generator=generator)
        )
        layer = torch.nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=4 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = torch.nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(width)
        with torch.no_grad():
            for parameter in self.parameters():
                if parameter.dim() > 1 and parameter is not self.position:
                    parameter.copy_(0.02 * torch.randn(parameter.shape, generator=generator))

    def _tokens(self, audio: torch.Tensor) -> torch.Tensor:
        """audio [W, <= 10 s] -> tokens [W, T', width]."""
        power = power_spectrogram(
            audio, n_fft=self.n_fft, hop_length=self.hop_length, window=self.stft_window
        )
        log_mel = torch.log(self.mel_filters @ power + 1e-6)  # [W, 64, frames]
        usable = max(1, log_mel.shape[-1] // self.patch_frames)
        if log_mel.shape[-1] < self.patch_frames:
            log_mel = torch.nn.functional.pad(log_mel, (0, self.patch_frames - log_mel.shape[-1]))
        patches = log_mel[..., : usable * self.patch_frames].unflatten(-1, (usable, self.patch_frames))
        patches = patches.permute(0, 2, 1, 3).flatten(2)  # [W, T', 64 * 4]
        tokens = self.patch(patches) + self.position[:, :usable]
        return self.norm(self.blocks(tokens))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        batch, samples = audio.shape
        if samples <= self.window_samples:
            return self._tokens(audio).float()
        count = -(-samples // self.window_samples)
        padded = torch.nn.functional.pad(audio, (0, count * self.window_samples - samples))
        windows = padded.reshape(batch * count, self.window_samples)
        tokens = self._tokens(windows).reshape(batch, -1, self.output_dim)
        # keep only the tokens over real audio, as a single pass over the whole clip would give
        kept = max(1, samples // self.hop_length // self.patch_frames)
        return tokens[:, :kept].float()
