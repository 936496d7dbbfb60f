"""An encoder whose output is random noise that carries no information about the audio.

It is the chance-level control: a benchmark whose scores stay well above chance for this encoder
leaks labels somewhere, and X-ARES's tests use it to prove that the offline suite does not. Each
clip's noise is seeded by a hash of its samples, so reruns (and the checker's determinism test)
see the same numbers while similar clips still get unrelated vectors.
"""

import hashlib

import torch


class RandomEncoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.sampling_rate = 16000
        self.hop_size_in_ms = 10
        self.output_dim = 64

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        frames = audio.shape[-1] // 160 + 1
        rows = []
        for clip in audio:
            seed = int.from_bytes(hashlib.sha256(clip.cpu().numpy().tobytes()).digest()[:8], "little")
            generator = torch.Generator().manual_seed(seed & 0x7FFF_FFFF_FFFF_FFFF)
            rows.append(torch.randn(frames, self.output_dim, generator=generator))
        return torch.stack(rows).to(audio.device)
