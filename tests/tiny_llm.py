"""A randomly initialised two-layer Qwen2 with a word-level tokenizer, saved like a hub checkpoint: the
published ASR protocol's frozen LM, small enough for a test."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
import torch


def tiny_llm(directory: Path, words: Iterable[str] = ()) -> Path:
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    specials = ["<|endoftext|>", "<|vision_end|>", "[UNK]"]
    vocab = {token: i for i, token in enumerate(specials + sorted({w.upper() for w in words}))}
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    tokenizer.decoder = tokenizers.decoders.WordPiece()  # joins words with spaces
    transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token="[UNK]",
        additional_special_tokens=["<|vision_end|>"],
    ).save_pretrained(directory)
    torch.manual_seed(0)
    config = transformers.Qwen2Config(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
    )
    transformers.Qwen2ForCausalLM(config).save_pretrained(directory)
    return directory
