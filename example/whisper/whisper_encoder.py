"""Whisper's encoder (openai/whisper-base, last hidden state), the public X-ARES baseline.

512-d frames every 20 ms at 16 kHz. The encoder only accepts 30 s of log-mel, so audio runs in 30 s
chunks, each zero-padded to 30 s, and only the frames over real audio are kept (see
xares.encoders.hf). The public example declares a 10 ms hop; the frames are 20 ms apart (10 ms mel
hop, then a stride-2 convolution), which is what this wrapper declares. Needs `pip install 'xares[hf]'`
and the weights (downloaded from the Hugging Face hub on first use, then read from the cache).
The same model without this file: `xares run hf:openai/whisper-base`. For a Whisper that runs with
no download at all, see example/whisper_ct2.
"""

from xares.encoders.hf import HuggingFaceEncoder


class WhisperEncoder(HuggingFaceEncoder):
    def __init__(self) -> None:
        super().__init__("openai/whisper-base")
