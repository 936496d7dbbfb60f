"""data2vec-audio (facebook/data2vec-audio-base, last hidden state), the public X-ARES baseline.

768-d frames every 20 ms at 16 kHz; audio runs in 10 s chunks (see xares.encoders.hf). Needs
`pip install 'xares[hf]'` and the weights (downloaded from the Hugging Face hub on first use, then
read from the cache). The same model without this file: `xares run hf:facebook/data2vec-audio-base`.
"""

from xares.encoders.hf import HuggingFaceEncoder


class Data2VecEncoder(HuggingFaceEncoder):
    def __init__(self) -> None:
        super().__init__("facebook/data2vec-audio-base")
