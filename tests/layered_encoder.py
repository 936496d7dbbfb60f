"""A synthetic multi-layer encoder for the layer tests: only one of its four layers knows the audio.

Layer 1 (INFORMATIVE) is a fixed random projection of a 40-band log power spectrum, so it separates
the toy tones; layers 0, 2 and 3 are fixed random tables indexed by frame position, scaled differently
(noise that depends only on a clip's length, not on what it holds). Zero padding keeps every frame,
so it declares frame_count and is batched across lengths.
"""

import torch

INFORMATIVE = 1
NUM_LAYERS = 4
TABLE_FRAMES = 2048


class LayeredEncoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.sampling_rate = 16000
        self.hop_size_in_ms = 10
        self.output_dim = 12
        self.num_layers = NUM_LAYERS
        self.calls = 0  # forward calls, so the tests can see that switching layers encodes nothing
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("window", torch.hann_window(400), persistent=False)
        self.register_buffer("projection", torch.randn(40, self.output_dim, generator=generator) / 6.0)
        noise = torch.randn(NUM_LAYERS, TABLE_FRAMES, self.output_dim, generator=generator)
        self.register_buffer("noise", noise * torch.tensor([1.0, 0.0, 5.0, 0.2])[:, None, None])

    def frame_count(self, num_samples: int) -> int:
        return num_samples // 160 + 1

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        padded = torch.nn.functional.pad(audio, (200, 200))
        spectrum = torch.stft(
            padded, n_fft=400, hop_length=160, window=self.window, center=False, return_complex=True
        )
        power = spectrum.abs().square()[:, :200]  # [B, 200, T']
        bands = torch.log(power.reshape(power.shape[0], 40, 5, -1).sum(2) + 1e-6).transpose(1, 2)
        frames = bands.shape[1]
        index = torch.arange(frames) % TABLE_FRAMES
        layers = self.noise[:, index].unsqueeze(0).expand(audio.shape[0], -1, -1, -1).clone()
        layers[:, INFORMATIVE] = bands @ self.projection
        return layers  # [B, 4, T', 12]


def write_layer_shards(out_dir) -> None:
    """The toy tones with more clips (40 / 10 / 20 per class), enough for a mix of layers to be learned."""
    from toy_data import write_toy_shards

    write_toy_shards(out_dir, per_class={"train": 40, "valid": 10, "test": 20})
