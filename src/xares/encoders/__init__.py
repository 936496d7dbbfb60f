"""Encoders that X-ARES builds from a name instead of a file.

`load_encoder` (xares.encoder) dispatches on the prefix of the encoder spec:

- ``hf:NAME[@layer=K]``: a Hugging Face audio model through transformers (xares.encoders.hf);
- ``hear:MODULE[:WEIGHTS]``: any module implementing the HEAR API (xares.encoders.hear).

Each module imports its optional dependency only when used, so `import xares` stays light.
"""

from __future__ import annotations

import re

import torch


def encoder_class(base: type[torch.nn.Module], label: str) -> type[torch.nn.Module]:
    """A subclass of `base` named after `label` ('facebook/wav2vec2-base' -> Wav2vec2BaseEncoder).

    Results and embedding stores are named after the encoder's class, so two models wrapped by the
    same class need two names; the fingerprint (which hashes the class name) then differs as well.
    """
    words = re.findall(r"[A-Za-z0-9]+", label)
    stem = "".join(word[:1].upper() + word[1:] for word in words) or "Named"
    if stem[0].isdigit():
        stem = f"M{stem}"
    name = stem if stem.endswith("Encoder") else f"{stem}Encoder"
    return type(name, (base,), {"__module__": base.__module__, "__qualname__": name})
