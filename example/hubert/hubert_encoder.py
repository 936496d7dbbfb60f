"""HuBERT (facebook/hubert-base-ls960, last hidden state).

768-d frames every 20 ms at 16 kHz; audio runs in 10 s chunks (see xares.encoders.hf). Needs
`pip install 'xares[hf]'` and the weights (downloaded from the Hugging Face hub on first use, then
read from the cache). The same model without this file: `xares run hf:facebook/hubert-base-ls960`.
"""

from xares.encoders.hf import HuggingFaceEncoder


class HubertEncoder(HuggingFaceEncoder):
    def __init__(self) -> None:
        super().__init__("facebook/hubert-base-ls960")
