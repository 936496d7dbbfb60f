"""Probe of speech recognition (task type "asr"): transcripts from frame embeddings, scored by WER_inv.

Two decoders, chosen by the task's `metric_args["decoder"]`:

- "qwen" (the default: the published protocol, upstream-format.md section (g)): a frozen causal
  language model (Qwen/Qwen2.5-0.5B) fed with the encoder frames through a trainable SwiGLU adapter.
  It needs the `transformers` package and the model on this machine (`metric_args["llm"]`: a path,
  or a hub name already in the local cache); nothing is downloaded here, so a run never fetches 1 GB
  of weights as a side effect. `require_decoder` says, before any audio is encoded, what is missing.
- "ctc" (an explicit choice: the offline suites' task files, or `--asr-decoder ctc`, which results.json
  records and every view marks as not the published protocol): a small head trained with CTC over the
  characters of the training transcripts. LayerNorm, then one bidirectional LSTM layer, then a Linear
  layer to the characters plus the CTC blank; greedy decoding. A purely linear head (`"hidden": 0`) was
  tried on the offline task: with log-mel frames it scored test WER_inv 0.00 (validation 0.01), the
  BiLSTM 0.55 (validation 0.80), same 15 epochs. A frame on its own says little about which letter is
  being spoken; one recurrent layer supplies the context that spelling needs and still trains in
  seconds on a CPU. Frames finer than 30 ms are stacked (10 ms -> 3 frames of 30 ms) so the LSTM runs
  over fewer steps; a character needs about 60 ms of speech, so CTC keeps room for blanks. Needs
  nothing beyond torch.

Both keep the epoch with the best validation WER_inv (a tie keeps the earlier one) and decode the test
split once with it. Transcripts come from each clip's stored JSON through the task's label_processor
(or the JSON field "trans", as upstream), so changing it never forces a re-encode.

Each fold keeps its per-clip test data under "per_clip" (xares.stats.asr_record): every test
utterance's word edits and reference words, from which the corpus WER and WER_inv of any bootstrap
draw of utterances are the pooled ratios, as for the full test set.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from xares.errors import DataError, LabelError, TaskConfigError
from xares.metrics import get_metric
from xares.metrics.wer import wer_inv, word_error_rate
from xares.probes import ProbeContext, ProbeResult, split_arrangements
from xares.probes.layers import layers_of, learned_weights, with_layer_mix
from xares.probes.training import Schedule, fit, single_thread, task_schedule
from xares.stats import asr_record, clip_keys
from xares.store import SplitEmbeddings
from xares.taskconfig import TaskConfig

logger = logging.getLogger(__name__)

DECODERS = ("qwen", "ctc")
DEFAULT_DECODER = "qwen"  # the published protocol
DEFAULT_LLM = "Qwen/Qwen2.5-0.5B"
SEPARATOR = "<|vision_end|>"
BLANK = 0
CTC_TARGET_HOP_MS = 30.0
SELECTION_METRIC = get_metric("WER_inv")  # the epoch with the best validation 1 - WER is kept
NUM_EXAMPLES = 3  # decoded test transcripts kept in the results, to show what the score means

# The metric_args keys this probe reads, with what each one does (an unknown key is refused).
ASR_ARGUMENTS = {
    "decoder": "'qwen' (default, the published protocol) or 'ctc' (offline, not published)",
    "hidden": "CTC: LSTM units per direction (default 192; 0 = linear head)",
    "frame_stack": "CTC: frames concatenated into one step (default: as many as fit in 30 ms)",
    "dropout": "CTC: dropout before the output layer (default 0.1)",
    "llm": f"qwen: local path or cached hub name of the causal LM (default {DEFAULT_LLM!r})",
    "separator": f"qwen: token between audio and text (default {SEPARATOR!r})",
    "max_new_tokens": "qwen: generation limit on test (default 200)",
    "repetition_penalty": "qwen: generation repetition penalty on test (default 1.1)",
    "device": "'cpu', 'cuda', ... (default: cuda when available)",
    "hop_size_in_ms": "the encoder's frame hop (read by the task runner)",
}


# ----- transcripts ----------------------------------------------------------------------------------
def default_transcript(meta: Any) -> Any:
    return meta["trans"]


def make_transcripts(config: TaskConfig, split: Any, data: SplitEmbeddings) -> list[str]:
    """Each clip's transcript; a failure names the task, shard and sample, like clip labels do."""
    processor = config.label_processor or default_transcript
    texts = []
    for record in data.samples:
        try:
            value = processor(record["meta"])
            if isinstance(value, dict):  # upstream passes the whole JSON through
                value = value["trans"]
            if not isinstance(value, str):
                raise TypeError(f"got {type(value).__name__} {value!r}, expected the transcript string")
        except Exception as exc:
            raise LabelError(
                f"task {config.name!r}, split {split!r}, shard {record['shard']}, sample {record['key']!r}: "
                f"no transcript could be read from {record['meta']!r} ({type(exc).__name__}: {exc}). "
                "The label_processor of an ASR task must return the transcript as a string."
            ) from exc
        texts.append(value)
    return texts


def normalise(text: str) -> str:
    """What the CTC head spells: lower case with single spaces, the form WER_inv compares anyway."""
    return " ".join(text.lower().split())


@dataclass
class Utterances:
    """The clips of one or more splits with their transcripts; frames are read lazily per batch."""

    parts: list[tuple[SplitEmbeddings, int]]  # (split, index of the clip in it)
    texts: list[str]

    @classmethod
    def of(cls, splits: Sequence[SplitEmbeddings], texts: Sequence[Sequence[str]]) -> Utterances:
        parts = [(data, i) for data in splits for i in range(len(data))]
        return cls(parts=parts, texts=[t for group in texts for t in group])

    def __len__(self) -> int:
        return len(self.parts)

    def num_frames(self, index: int) -> int:
        data, i = self.parts[index]
        return int(data.offsets[i + 1] - data.offsets[i])

    def frames(self, index: int) -> np.ndarray:
        data, i = self.parts[index]
        return np.asarray(data.clip_frames(i), dtype=np.float32)

    def subset(self, indices: Sequence[int]) -> Utterances:
        return Utterances(parts=[self.parts[i] for i in indices], texts=[self.texts[i] for i in indices])


def _batches(count: int, batch_size: int, generator: torch.Generator | None) -> list[list[int]]:
    order = torch.randperm(count, generator=generator).tolist() if generator is not None else range(count)
    order = list(order)
    return [order[start : start + batch_size] for start in range(0, count, batch_size)]


# ----- CTC ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CharVocabulary:
    """Characters of the training transcripts; index 0 is the CTC blank."""

    chars: tuple[str, ...]

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> CharVocabulary:
        return cls(tuple(sorted({c for text in texts for c in normalise(text)})))

    def __len__(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> list[int]:
        """Character indices of a transcript; characters unseen in training are dropped."""
        index = {c: i + 1 for i, c in enumerate(self.chars)}
        return [index[c] for c in normalise(text) if c in index]

    def decode(self, indices: Sequence[int]) -> str:
        return " ".join("".join(self.chars[i - 1] for i in indices if i != BLANK).split())


def ctc_greedy_decode(best_path: Sequence[int] | np.ndarray, blank: int = BLANK) -> list[int]:
    """Best path -> labels: merge runs of the same index, then drop blanks ("aa-ab" -> "aab")."""
    return [int(index) for index, _ in itertools.groupby(np.asarray(best_path).tolist()) if index != blank]


def ctc_min_frames(target: Sequence[int]) -> int:
    """Frames CTC needs for `target`: one per label plus a blank between each pair of repeats."""
    return len(target) + sum(1 for a, b in zip(target[:-1], target[1:], strict=True) if a == b)


def stack_frames(frames: np.ndarray, factor: int) -> np.ndarray:
    """[T, D] -> [ceil(T / factor), D * factor]; the last step is completed with copies of the last frame.

    Frames with a layer axis, [T, L, D], become [ceil(T / factor), L, D * factor]: each layer is stacked
    on its own, so a learned mix of layers weighs a whole step's frames alike.
    """
    if factor == 1:
        return frames
    steps = -(-len(frames) // factor)
    missing = steps * factor - len(frames)
    if missing:
        frames = np.concatenate([frames, np.repeat(frames[-1:], missing, axis=0)])
    if frames.ndim == 3:
        layers, dim = frames.shape[1:]
        return frames.reshape(steps, factor, layers, dim).transpose(0, 2, 1, 3).reshape(steps, layers, -1)
    return frames.reshape(steps, factor * frames.shape[1])


def default_frame_stack(hop_size_in_ms: float) -> int:
    return max(1, int(math.floor(CTC_TARGET_HOP_MS / hop_size_in_ms + 1e-6)))


class CtcHead(torch.nn.Module):
    """LayerNorm -> BiLSTM (one layer; none when hidden == 0) -> Linear to characters + blank."""

    def __init__(self, dim: int, vocab_size: int, *, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.norm = torch.nn.LayerNorm(dim)
        # Two one-way LSTMs rather than LSTM(bidirectional=True) over a packed batch: packing is several
        # times slower on a CPU, and running the backward one over each clip reversed within its own
        # length gives the same result on a padded batch without it.
        self.forward_lstm = torch.nn.LSTM(dim, hidden, batch_first=True) if hidden > 0 else None
        self.backward_lstm = torch.nn.LSTM(dim, hidden, batch_first=True) if hidden > 0 else None
        self.dropout = torch.nn.Dropout(dropout)
        self.output = torch.nn.Linear(2 * hidden if hidden > 0 else dim, vocab_size)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, T, D] frames and their true lengths -> [B, T, V] logits."""
        hidden = self.norm(features)
        if self.forward_lstm is not None and self.backward_lstm is not None:
            reverse = reversal_index(lengths, features.shape[1]).to(features.device)
            ahead, _ = self.forward_lstm(hidden)  # padding comes last, so it never reaches a real frame
            behind, _ = self.backward_lstm(_take_steps(hidden, reverse))
            hidden = torch.cat([ahead, _take_steps(behind, reverse)], dim=-1)
        return self.output(self.dropout(hidden))


def reversal_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """[B, T] step indices that reverse each row's first `length` steps and leave its padding in place."""
    position = torch.arange(steps)[None, :]
    lengths = lengths.cpu()[:, None]
    return torch.where(position < lengths, lengths - 1 - position, position)


def _take_steps(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return torch.gather(values, 1, index[..., None].expand(-1, -1, values.shape[-1]))


@dataclass(frozen=True)
class CtcSettings(Schedule):
    hidden: int = 192
    frame_stack: int = 1
    dropout: float = 0.1
    device: str = "cpu"
    clip_norm: float = 5.0


@dataclass
class AsrOutcome:
    score: float
    wer: float
    best_epoch: int
    valid_score: float | None
    hypotheses: list[str]
    skipped_train: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def _padded(arrays: list[np.ndarray], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.as_tensor([len(a) for a in arrays], dtype=torch.int64)
    batch = np.zeros((len(arrays), int(lengths.max()), *arrays[0].shape[1:]), dtype=np.float32)
    for row, array in enumerate(arrays):
        batch[row, : len(array)] = array
    return torch.from_numpy(batch).to(device), lengths


@torch.no_grad()
def ctc_transcribe(
    head: CtcHead, data: Utterances, vocab: CharVocabulary, settings: CtcSettings
) -> list[str]:
    """Greedy CTC transcripts of every utterance, in order."""
    head.eval()
    texts: list[str] = []
    for batch in _batches(len(data), max(settings.batch_size, 32), None):
        features, lengths = _padded(
            [stack_frames(data.frames(i), settings.frame_stack) for i in batch], settings.device
        )
        best = head(features, lengths).argmax(dim=-1).cpu().numpy()
        texts.extend(
            vocab.decode(ctc_greedy_decode(row[:length]))
            for row, length in zip(best, lengths.tolist(), strict=True)
        )
    return texts


def train_ctc_probe(
    train: Utterances,
    valid: Utterances | None,
    test: Utterances,
    settings: CtcSettings,
    on_epoch: Callable[[], None] | None = None,
) -> AsrOutcome:
    """Train the CTC head on `train`, keep the best epoch on `valid` (else the last), transcribe `test`.

    On a CPU it runs on one thread, as the linear probe does: its matrices are small, and extra
    threads mostly wait on each other (several times slower on a busy machine).
    """
    vocab = CharVocabulary.from_texts(train.texts)
    targets = [vocab.encode(text) for text in train.texts]
    steps = [-(-train.num_frames(i) // settings.frame_stack) for i in range(len(train))]
    feasible = [i for i in range(len(train)) if steps[i] >= ctc_min_frames(targets[i])]
    skipped = len(train) - len(feasible)
    if skipped:
        logger.warning(
            "CTC: %d of %d training clips have fewer frames than their transcript needs "
            "(frame stack %d); they are left out of training.",
            skipped,
            len(train),
            settings.frame_stack,
        )
    if not feasible:
        raise DataError(
            f"CTC cannot align any of the {len(train)} training transcripts: every clip has fewer frames "
            f"(after stacking {settings.frame_stack}) than its transcript has characters. Lower "
            "metric_args['frame_stack'] or use an encoder with a finer hop."
        )
    first = train.frames(feasible[0])  # [T, D], or [T, L, D] for a learned mix of an encoder's layers
    dim = first.shape[-1] * settings.frame_stack
    loss_fn = torch.nn.CTCLoss(blank=BLANK, zero_infinity=True)

    def build() -> torch.nn.Module:
        head = CtcHead(dim, len(vocab), hidden=settings.hidden, dropout=settings.dropout)
        return with_layer_mix(head, layers_of(first), learning_rate=settings.learning_rate).to(
            settings.device
        )

    def train_epoch(head: torch.nn.Module, optimiser, generator: torch.Generator) -> None:
        for batch in _batches(len(feasible), settings.batch_size, generator):
            chosen = [feasible[i] for i in batch]
            features, lengths = _padded(
                [stack_frames(train.frames(i), settings.frame_stack) for i in chosen], settings.device
            )
            labels = torch.as_tensor([c for i in chosen for c in targets[i]], dtype=torch.int64)
            label_lengths = torch.as_tensor([len(targets[i]) for i in chosen], dtype=torch.int64)
            log_probs = head(features, lengths).log_softmax(dim=-1).transpose(0, 1)
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(log_probs, labels.to(settings.device), lengths, label_lengths)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head.parameters(), settings.clip_norm)
            optimiser.step()

    def validate(head: torch.nn.Module) -> float:
        return wer_inv(ctc_transcribe(head, valid, vocab, settings), valid.texts)

    with single_thread() if torch.device(settings.device).type == "cpu" else contextlib.nullcontext():
        fitted = fit(
            build,
            train_epoch,
            validate if valid is not None else None,
            schedule=settings,
            better=SELECTION_METRIC.better,
            optimiser="torch",
            on_epoch=on_epoch,
        )
        hypotheses = ctc_transcribe(fitted.model, test, vocab, settings)
    return AsrOutcome(
        score=wer_inv(hypotheses, test.texts),
        wer=word_error_rate(hypotheses, test.texts),
        best_epoch=fitted.best_epoch,
        valid_score=fitted.valid_score,
        hypotheses=hypotheses,
        skipped_train=skipped,
        details={
            "decoder": "ctc",
            "vocabulary": "".join(vocab.chars),
            "frame_stack": settings.frame_stack,
            **_mix_details(fitted.model),
        },
    )


# ----- the public protocol: frozen causal LM + SwiGLU adapter ------------------------------------------
class SwiGLUAdapter(torch.nn.Module):
    """Frame-wise adapter of upstream: SiLU(W_a x) * (W_b x), then a projection to the LM's width."""

    def __init__(self, dim: int, intermediate: int, hidden: int) -> None:
        super().__init__()
        self.gate = torch.nn.Linear(dim, intermediate)
        self.up = torch.nn.Linear(dim, intermediate)
        self.down = torch.nn.Linear(intermediate, hidden)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.down(torch.nn.functional.silu(self.gate(frames)) * self.up(frames))


@dataclass(frozen=True)
class LlmSettings(Schedule):
    llm: str = DEFAULT_LLM
    separator: str = SEPARATOR
    max_new_tokens: int = 200
    repetition_penalty: float = 1.1
    device: str = "cpu"


def load_llm(name: str, device: str) -> tuple[Any, Any]:
    """The frozen LM and its tokenizer, from this machine only (local_files_only=True)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise TaskConfigError(_missing_llm(name, "the 'transformers' package is not installed")) from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(name, local_files_only=True, attn_implementation="sdpa")
    except (OSError, ValueError) as exc:
        raise TaskConfigError(_missing_llm(name, f"it is not on this machine: {exc}")) from exc
    model = model.to(device=device, dtype=torch.float32).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, tokenizer


def _missing_llm(name: str, why: str) -> str:
    return (
        f"the published ASR protocol needs the frozen language model {name!r}, and {why}. To run it: "
        f"`pip install 'xares[hf]'`, then download the weights once: `hf download {DEFAULT_LLM}` (into "
        f"the Hugging Face cache), or `hf download {DEFAULT_LLM} --local-dir {DEFAULT_LLM}` in the working "
        "directory (where upstream keeps it), or into any DIR and set metric_args['llm'] to DIR. Or "
        "choose the offline CTC head explicitly with `--asr-decoder ctc` (xares.evaluate(..., "
        "asr_decoder='ctc')): results.json records it and every view marks the task as not the "
        "published protocol."
    )


def require_decoder(config: TaskConfig) -> None:
    """Fail before any audio is encoded when the task's decoder cannot run here (LibriSpeech encodes
    100 hours before its probe would find the language model missing)."""
    if config.task_type != "asr" or config.metric_args.get("decoder", DEFAULT_DECODER) != "qwen":
        return
    name = str(config.metric_args.get("llm", DEFAULT_LLM))
    try:
        from transformers import AutoConfig
    except ImportError as exc:
        raise TaskConfigError(
            f"task {config.name!r}: " + _missing_llm(name, "the 'transformers' package is not installed")
        ) from exc
    try:
        AutoConfig.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise TaskConfigError(
            f"task {config.name!r}: " + _missing_llm(name, f"it is not on this machine ({exc})")
        ) from exc


class LlmDecoder:
    """Batches of (frames, transcript) -> LM inputs; the loss, teacher-forced and generated transcripts."""

    def __init__(self, model: Any, tokenizer: Any, adapter: SwiGLUAdapter, settings: LlmSettings) -> None:
        self.model, self.tokenizer, self.adapter, self.settings = model, tokenizer, adapter, settings
        self.embed = model.get_input_embeddings()
        separator = tokenizer.convert_tokens_to_ids(settings.separator)
        if separator is None or separator == tokenizer.unk_token_id:
            raise TaskConfigError(
                f"the tokenizer of {settings.llm!r} has no token {settings.separator!r} to separate audio "
                "from text; set metric_args['separator'] to one of its special tokens."
            )
        if tokenizer.eos_token_id is None:
            raise TaskConfigError(f"the tokenizer of {settings.llm!r} has no end-of-sequence token.")
        self.separator, self.eos = int(separator), int(tokenizer.eos_token_id)
        self.pad = int(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else self.eos

    def _autocast(self) -> Any:
        if torch.device(self.settings.device).type == "cuda":  # as published: CUDA autocast at float16
            return torch.autocast("cuda", dtype=torch.float16)
        return torch.autocast("cpu", enabled=False)

    def audio(self, data: Utterances, batch: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        frames, lengths = _padded([data.frames(i) for i in batch], self.settings.device)
        mask = (torch.arange(frames.shape[1])[None, :] < lengths[:, None]).long().to(self.settings.device)
        return self.adapter(frames) * mask[..., None], mask

    def text(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """[separator, transcript tokens, eos] per row, padded with the pad token; mask 0 on padding."""
        rows = [
            [self.separator, *self.tokenizer(t, add_special_tokens=False)["input_ids"], self.eos]
            for t in texts
        ]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.int64)
        mask = torch.zeros((len(rows), width), dtype=torch.int64)
        for n, row in enumerate(rows):
            ids[n, : len(row)] = torch.as_tensor(row)
            mask[n, : len(row)] = 1
        return ids.to(self.settings.device), mask.to(self.settings.device)

    def forward(self, data: Utterances, batch: list[int]) -> tuple[Any, torch.Tensor, torch.Tensor]:
        audio, audio_mask = self.audio(data, batch)
        ids, text_mask = self.text([data.texts[i] for i in batch])
        embeds = torch.cat([audio, self.embed(ids).to(audio.dtype)], dim=1)
        mask = torch.cat([audio_mask, text_mask], dim=1)
        labels = torch.cat([torch.full_like(audio_mask, -100), ids.masked_fill(text_mask == 0, -100)], dim=1)
        with self._autocast():
            output = self.model(inputs_embeds=embeds, attention_mask=mask, labels=labels)
        return output, ids, text_mask

    @torch.no_grad()
    def teacher_forced(self, data: Utterances) -> list[str]:
        """Validation as upstream: arg-max at the text positions, cut to the reference's length."""
        texts = []
        for batch in _batches(len(data), self.settings.batch_size, None):
            output, ids, text_mask = self.forward(data, batch)
            start = output.logits.shape[1] - ids.shape[1]  # the separator's position
            predicted = output.logits[:, start:-1].argmax(dim=-1)  # predicts the tokens after it
            for row, index in enumerate(batch):
                length = int(text_mask[row].sum()) - 1
                decoded = self.tokenizer.decode(predicted[row, :length].tolist(), skip_special_tokens=True)
                texts.append(decoded[: len(data.texts[index])])
        return texts

    @torch.no_grad()
    def generate(self, data: Utterances) -> list[str]:
        """Test as upstream: greedy generation after the audio and the separator."""
        texts = []
        for batch in _batches(len(data), self.settings.batch_size, None):
            audio, audio_mask = self.audio(data, batch)
            separator = torch.full((len(batch), 1), self.separator, device=audio.device)
            embeds = torch.cat([audio, self.embed(separator).to(audio.dtype)], dim=1)
            mask = torch.cat([audio_mask, torch.ones_like(audio_mask[:, :1])], dim=1)
            with self._autocast(), warnings.catch_warnings():
                # The penalty covers generated tokens only (there are no prompt ids), as upstream's does.
                warnings.filterwarnings("ignore", message="Passing `repetition_penalty` with `inputs_embeds`")
                tokens = self.model.generate(
                    inputs_embeds=embeds,
                    attention_mask=mask,
                    max_new_tokens=self.settings.max_new_tokens,
                    do_sample=False,
                    repetition_penalty=self.settings.repetition_penalty,
                    eos_token_id=self.eos,
                    pad_token_id=self.pad,
                )
            texts.extend(self.tokenizer.batch_decode(tokens, skip_special_tokens=True))
        return [" ".join(t.split()) for t in texts]


def train_llm_probe(
    train: Utterances,
    valid: Utterances | None,
    test: Utterances,
    settings: LlmSettings,
    on_epoch: Callable[[], None] | None = None,
) -> AsrOutcome:
    """Train the adapter in front of the frozen LM; best epoch on validation; generate on test."""
    model, tokenizer = load_llm(settings.llm, settings.device)
    first = train.frames(0)  # [T, D], or [T, L, D] for a learned mix of an encoder's layers
    decoders: list[LlmDecoder] = []

    def build() -> torch.nn.Module:
        adapter = SwiGLUAdapter(first.shape[-1], model.config.intermediate_size, model.config.hidden_size)
        adapter = with_layer_mix(adapter, layers_of(first), learning_rate=settings.learning_rate)
        decoders.append(LlmDecoder(model, tokenizer, adapter.to(settings.device), settings))
        return adapter

    def train_epoch(adapter: torch.nn.Module, optimiser, generator: torch.Generator) -> None:
        for batch in _batches(len(train), settings.batch_size, generator):
            optimiser.zero_grad(set_to_none=True)
            output, _, _ = decoders[0].forward(train, batch)
            output.loss.backward()
            optimiser.step()

    def validate(adapter: torch.nn.Module) -> float:
        return wer_inv(decoders[0].teacher_forced(valid), valid.texts)

    fitted = fit(
        build,
        train_epoch,
        validate if valid is not None else None,
        schedule=settings,
        better=SELECTION_METRIC.better,
        optimiser="torch",
        on_epoch=on_epoch,
    )
    hypotheses = decoders[0].generate(test)
    return AsrOutcome(
        score=wer_inv(hypotheses, test.texts),
        wer=word_error_rate(hypotheses, test.texts),
        best_epoch=fitted.best_epoch,
        valid_score=fitted.valid_score,
        hypotheses=hypotheses,
        details={"decoder": "qwen", "llm": settings.llm, **_mix_details(fitted.model)},
    )


def _mix_details(module: torch.nn.Module) -> dict[str, Any]:
    weights = learned_weights(module)
    return {} if weights is None else {"layer_weights": weights}


# ----- the probe ----------------------------------------------------------------------------------------
def _options(config: TaskConfig, context: ProbeContext) -> dict[str, Any]:
    options = dict(config.metric_args)
    unknown = sorted(set(options) - set(ASR_ARGUMENTS))
    if unknown:
        known = "; ".join(f"{k}: {v}" for k, v in ASR_ARGUMENTS.items())
        raise TaskConfigError(
            f"task {config.name!r}: metric_args {unknown} mean nothing to ASR. Known: {known}."
        )
    decoder = options.get("decoder", DEFAULT_DECODER)
    if decoder not in DECODERS:
        raise TaskConfigError(
            f"task {config.name!r}: metric_args['decoder']={decoder!r} is not one of {list(DECODERS)}."
        )
    options["decoder"] = decoder
    options.setdefault("device", context.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return options


def run_asr_probe(
    config: TaskConfig, splits: dict[Any, SplitEmbeddings], context: ProbeContext
) -> ProbeResult:
    """Train the chosen decoder on every train/test arrangement and score its test transcripts."""
    options = _options(config, context)
    texts = {split: make_transcripts(config, split, data) for split, data in splits.items()}
    common = dict(**task_schedule(config, context.seed), device=options["device"])
    train_fn: Callable[..., AsrOutcome]
    if options["decoder"] == "ctc":
        settings: Any = CtcSettings(
            **common,
            hidden=int(options.get("hidden", 192)),
            frame_stack=int(options.get("frame_stack") or default_frame_stack(context.hop_size_in_ms)),
            dropout=float(options.get("dropout", 0.1)),
        )
        train_fn = train_ctc_probe
    else:
        settings = LlmSettings(
            **common,
            llm=str(options.get("llm", DEFAULT_LLM)),
            separator=str(options.get("separator", SEPARATOR)),
            max_new_tokens=int(options.get("max_new_tokens", 200)),
            repetition_penalty=float(options.get("repetition_penalty", 1.1)),
        )
        train_fn = train_llm_probe

    def utterances(names: list[Any]) -> Utterances:
        return Utterances.of([splits[s] for s in names], [texts[s] for s in names])

    folds = []
    for label, train_splits, valid_split, test_split in split_arrangements(config):
        train, test = utterances(train_splits), utterances([test_split])
        valid = utterances([valid_split]) if valid_split is not None else None
        outcome = train_fn(train, valid, test, settings, on_epoch=context.on_epoch)
        fold: dict[str, Any] = {
            "name": label,
            "num_train": len(train),
            "num_test": len(test),
            "mlp_score": outcome.score,
            "WER": outcome.wer,
            "best_epoch": outcome.best_epoch,
            "valid_score": outcome.valid_score,
            "skipped_train": outcome.skipped_train,
            **outcome.details,
            "examples": [
                {"reference": r, "hypothesis": h}
                for r, h in zip(test.texts[:NUM_EXAMPLES], outcome.hypotheses[:NUM_EXAMPLES], strict=False)
            ],
            "per_clip": asr_record(clip_keys(splits[test_split].samples), outcome.hypotheses, test.texts),
        }
        folds.append(fold)
        logger.info(
            "%s %s: WER_inv %.4f (WER %.4f, best epoch %d, valid %s)",
            config.name,
            label,
            outcome.score,
            outcome.wer,
            outcome.best_epoch,
            outcome.valid_score,
        )
    return ProbeResult.from_folds(folds, metric_names=("WER",))
