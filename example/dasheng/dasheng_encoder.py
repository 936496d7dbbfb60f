"""Dasheng (dasheng_base from the `dasheng` package), the public X-ARES baseline.

768-d frames every 40 ms at 16 kHz (64 mel bins, 10 ms mel hop, patches of 4 frames), 12
transformer layers. The model attends over windows of about 10 s, so audio runs in 10 s chunks whose
frames are concatenated; a last chunk shorter than 1 s is zero-padded to 1 s, and only the frames
that cover real audio are kept (a clip of N samples gives max(1, (N // 160 + 1) // 4) frames).

Weights: the package downloads dasheng_base.pt (about 350 MB) from Zenodo,
https://zenodo.org/records/11511780/files/dasheng_base.pt, through torch.hub on first use and keeps it
in the torch.hub cache (`$TORCH_HOME/hub/checkpoints/`, default ~/.cache/torch/hub/checkpoints/).
Offline, download that file elsewhere and either put it there or point XARES_DASHENG_CHECKPOINT at
it. Needs `pip install 'xares[dasheng]'` (the `dasheng` package; it imports torchaudio, which must
match your torch build).
"""

from __future__ import annotations

import os
import urllib.error
from collections.abc import Callable
from pathlib import Path

import torch

CHECKPOINT_URL = "https://zenodo.org/records/11511780/files/dasheng_base.pt?download=1"
CHECKPOINT_ENV = "XARES_DASHENG_CHECKPOINT"
CHECKPOINT_NAME = "dasheng_base.pt"


def _hub_checkpoint() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / CHECKPOINT_NAME


def _how_to_place_weights() -> str:
    return (
        f"dasheng_base's weights come from Zenodo: {CHECKPOINT_URL.split('?')[0]} . Download that file "
        f"where there is internet, then either set {CHECKPOINT_ENV}=/path/to/{CHECKPOINT_NAME} or put it "
        f"at {_hub_checkpoint()} (the torch.hub cache, under $TORCH_HOME)."
    )


def load_dasheng_base(builder: Callable[..., torch.nn.Module] | None = None) -> torch.nn.Module:
    """dasheng_base with pretrained weights: $XARES_DASHENG_CHECKPOINT, the torch.hub cache, or Zenodo."""
    if builder is None:
        try:
            from dasheng import dasheng_base as builder
        except (ImportError, OSError) as exc:  # torchaudio built for another torch raises OSError
            raise RuntimeError(
                f"cannot import the dasheng package ({type(exc).__name__}: {exc}). Install it with "
                "pip install 'xares[dasheng]', with a torchaudio that matches your torch."
            ) from exc
    checkpoint = os.environ.get(CHECKPOINT_ENV)
    if checkpoint:
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"{CHECKPOINT_ENV}={checkpoint} is not a file. {_how_to_place_weights()}")
        return builder(path=checkpoint)
    try:
        return builder()  # torch.hub: the cache, else a download from Zenodo
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
        raise RuntimeError(
            f"cannot download dasheng_base's weights ({type(exc).__name__}: {exc}). {_how_to_place_weights()}"
        ) from exc


class DashengEncoder(torch.nn.Module):
    """`model` maps audio [B, N] (16 kHz) to frames [B, (N // 160 + 1) // 4, embed_dim]; by default
    the pretrained dasheng_base."""

    def __init__(self, model: torch.nn.Module | None = None, *, chunk_seconds: float = 10.0) -> None:
        super().__init__()
        self.model = (model if model is not None else load_dasheng_base()).eval()
        self.sampling_rate = 16000
        self.hop_size_in_ms = 40
        self.output_dim = int(self.model.embed_dim)
        self.mel_hop = 160
        self.patch_frames = 4
        self.chunk_samples = int(chunk_seconds * self.sampling_rate)
        self.min_chunk_samples = self.sampling_rate  # 1 s

    def _frames(self, num_samples: int) -> int:
        return max(1, (num_samples // self.mel_hop + 1) // self.patch_frames)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        outputs = []
        for chunk in audio.split(self.chunk_samples, dim=-1):
            length = chunk.shape[-1]
            if length < self.min_chunk_samples:
                chunk = torch.nn.functional.pad(chunk, (0, self.min_chunk_samples - length))
            outputs.append(self.model(chunk)[:, : self._frames(length)])
        return torch.cat(outputs, dim=1).float()
