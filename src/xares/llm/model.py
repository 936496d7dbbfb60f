"""The XARES-LLM model over stored frames: a linear projection of the encoder's frames into the LM's
embedding space, then the frozen LM with LoRA adapters (peft), as published.

The published model runs the encoder inside its forward; here the frames come from the store, so the
encoder is never part of the model. Every row is laid out as published: [audio frames, prompt tokens,
answer tokens + end-of-sequence], the loss on the answer and its end only. Rows are built one by one
and padded at the end (training) or at the start (generation), so no padding sits between a row's
audio and its text; the attention mask hides the padding either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from xares.llm.protocol import LoraSettings

IGNORE = -100  # the label of positions without loss (audio, prompt, padding), as in transformers


def _peft() -> Any:
    try:
        import peft
    except ImportError as exc:
        raise ImportError("the LLM track's LoRA adapters need peft: `pip install 'xares[llm]'`.") from exc
    return peft


class AudioLlm(torch.nn.Module):
    """Projection (trained) + LM (frozen) + LoRA adapters (trained)."""

    def __init__(self, lm: Any, tokenizer: Any, input_dim: int, lora: LoraSettings) -> None:
        super().__init__()
        peft = _peft()
        config = peft.LoraConfig(
            target_modules=lora.target_modules,
            task_type=peft.TaskType.CAUSAL_LM,
            inference_mode=False,
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            bias=lora.bias,
        )
        self.decoder = peft.get_peft_model(lm, config)
        self.tokenizer = tokenizer
        self.projection = torch.nn.Linear(input_dim, int(lm.config.hidden_size))
        self.eos = int(tokenizer.eos_token_id)
        self.pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos)

    @property
    def device(self) -> torch.device:
        return self.projection.weight.device

    def trainable_parameters(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]

    def _row(self, frames: np.ndarray, ids: Sequence[int]) -> torch.Tensor:
        """One row of the LM's input: the projected audio frames, then the embeddings of `ids`."""
        audio = self.projection(torch.as_tensor(np.asarray(frames, dtype=np.float32), device=self.device))
        tokens = torch.as_tensor(list(ids), dtype=torch.int64, device=self.device)
        return torch.cat([audio, self.decoder.get_input_embeddings()(tokens).to(audio.dtype)])

    def _pad(self, rows: list[torch.Tensor], *, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows padded into one batch, at the end or (`left`) at the start, with its attention mask."""
        width = max(len(r) for r in rows)
        embeds = rows[0].new_zeros((len(rows), width, rows[0].shape[1]))
        mask = torch.zeros((len(rows), width), dtype=torch.int64, device=self.device)
        for n, row in enumerate(rows):
            at = slice(width - len(row), width) if left else slice(0, len(row))
            embeds[n, at] = row
            mask[n, at] = 1
        return embeds, mask

    def prompt_ids(self, prompt: str) -> list[int]:
        """The prompt's tokens as upstream tokenises it (the tokenizer's own special tokens, if any)."""
        return list(self.tokenizer(prompt)["input_ids"])

    def answer_ids(self, answer: str) -> list[int]:
        """The answer followed by the end-of-sequence text, tokenised as upstream does in training."""
        return list(self.tokenizer(answer + self.tokenizer.eos_token)["input_ids"])

    def loss(
        self, frames: Sequence[np.ndarray], prompts: Sequence[list[int]], answers: Sequence[list[int]]
    ) -> torch.Tensor:
        """Mean next-token cross-entropy over the answer tokens of the batch."""
        rows = [self._row(c, p + a) for c, p, a in zip(frames, prompts, answers, strict=True)]
        embeds, mask = self._pad(rows, left=False)
        targets = torch.full(mask.shape, IGNORE, dtype=torch.int64, device=self.device)
        for n, (row, answer) in enumerate(zip(rows, answers, strict=True)):
            label = [IGNORE] * (len(row) - len(answer)) + list(answer)  # no loss on the audio and prompt
            targets[n, : len(row)] = torch.as_tensor(label, device=self.device)
        return self.decoder(inputs_embeds=embeds, attention_mask=mask, labels=targets).loss

    @torch.no_grad()
    def generate(
        self,
        frames: Sequence[np.ndarray],
        prompts: Sequence[list[int]],
        *,
        max_new_tokens: int,
        repetition_penalty: float,
    ) -> list[str]:
        """Greedy answers after [audio, prompt], as published (repetition penalty, a token budget)."""
        import warnings

        rows = [self._row(c, p) for c, p in zip(frames, prompts, strict=True)]
        embeds, mask = self._pad(rows, left=True)
        with warnings.catch_warnings():
            # transformers notes that the penalty sees no prompt ids with inputs_embeds: as upstream.
            warnings.filterwarnings("ignore", message=".*repetition_penalty.*")
            tokens = self.decoder.generate(
                inputs_embeds=embeds,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                repetition_penalty=repetition_penalty,
                eos_token_id=self.eos,
                pad_token_id=self.pad,
            )
        return [t.strip() for t in self.tokenizer.batch_decode(tokens, skip_special_tokens=True)]
