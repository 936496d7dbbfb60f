"""wav2vec 2.0 (facebook/wav2vec2-large-100k-voxpopuli, last hidden state), the public X-ARES baseline.

1024-d frames every 20 ms at 16 kHz; audio runs in 10 s chunks (see xares.encoders.hf). Needs
`pip install 'xares[hf]'` and the weights (downloaded from the Hugging Face hub on first use, then
read from the cache). The same model without this file: `xares run hf:facebook/wav2vec2-large-100k-voxpopuli`.
"""

from xares.encoders.hf import HuggingFaceEncoder


class Wav2vec2Encoder(HuggingFaceEncoder):
    def __init__(self) -> None:
        super().__init__("facebook/wav2vec2-large-100k-voxpopuli")
