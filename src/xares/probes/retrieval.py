"""Audio-text retrieval probe (task type "contrastive", Clotho): a small two-tower model on top of the
frozen encoder's pooled clip embeddings, trained with a symmetric InfoNCE loss.

Audio tower: pooled embedding -> LayerNorm -> Linear(hidden) -> GELU -> Linear(out).
Text tower: token embedding table (hidden) -> per-token Linear(hidden) -> GELU -> Linear(out) -> mean
over the non-padding tokens. Both towers are trained from scratch, jointly; only the audio side sees
the encoder, so the score measures how much of what captions describe the embedding keeps.
Sizes: out = config.output_dim, hidden = metric_args["hidden_dim"], each 1024 when unset (upstream's);
smaller sizes are for CPU-sized offline tasks.

Captions come from each clip's stored JSON through the task's label_processor (a list of captions;
without one, the JSON object's values, Clotho's layout). Training pairs are (clip, each of its
captions). Crops of one clip are merged back into it (frame-weighted mean of their pooled vectors):
a retrieval item is a clip, and crops sharing captions would compete as retrieval targets.

Tokenizer (recorded in each fold's details as `tokenizer`):

- metric_args["tokenizer"] names a Hugging Face tokenizer (a local directory or a cached hub name),
  loaded with `local_files_only=True`; missing transformers or files are an error, because the task
  asked for it. metric_args["tokenizer"] = "words" forces the word-level tokenizer.
- Otherwise the first config.pretrained_dependencies entry "<name>:tokenizer" (Clotho declares
  "bert-base-uncased:tokenizer", the public protocol) is tried the same way; when it is not available
  offline the probe falls back to the word-level tokenizer with a warning, and the fold records a
  `deviation` (carried by the task's `deviations` in results.json, marked ‡ in every view).
- Otherwise the word-level tokenizer: lower-cased words and single punctuation marks, vocabulary
  built from the training captions only (<pad> = 0, <unk> = 1; unseen words map to <unk>).

Differences from upstream, on purpose:

- Similarities in the loss are cosines (L2-normalised embeddings) times exp(s), s a learnable
  log-scale initialised to log(1 / 0.07) and clamped at log(100) as in CLIP. Upstream uses raw dot
  products plus an embedding-norm regulariser; training on cosines optimises exactly what the metric
  measures and needs no regulariser.
- Two captions of the same clip that meet in one batch are masked out of each other's softmax
  (neither positive nor negative); upstream counts them as negatives, punishing correct answers.
Under `--protocol xares-0.1.3` the loss is upstream's (`published_contrastive_loss`): raw dot
products times exp(s) (no clamp), the norm regulariser of each modality, same-clip pairs as negatives.
The epoch with the best validation recall@1 is kept (xares.probes.training).

Each fold keeps its per-clip test data under "per_clip" (xares.stats.retrieval_record), one item per
test clip holding its audio-to-text hits and AP@10 and its captions' text-to-audio hits and AP@10, so a
bootstrap draw of a clip draws its captions with it. Every query keeps the ranking of the full test
set: intervals cover the variation of the test queries, not of the gallery they are ranked against.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from xares.errors import LabelError, TaskConfigError
from xares.metrics import get_metric
from xares.metrics.retrieval import retrieval_metrics_from_similarity, similarities
from xares.probes import ProbeContext, ProbeResult, read_label, split_arrangements
from xares.probes.layers import layers_of, learned_weights, with_layer_mix
from xares.probes.training import Schedule, fit, task_schedule
from xares.stats import ClipRecord, clip_keys, retrieval_record
from xares.store import SplitEmbeddings
from xares.taskconfig import TaskConfig

logger = logging.getLogger(__name__)

SELECTION_METRIC = get_metric("recallatk_r1")  # the epoch with the best validation R@1 is kept
DEFAULT_SIZE = 1024  # upstream's projection and hidden size
INITIAL_LOG_SCALE = math.log(1.0 / 0.07)
MAX_LOG_SCALE = math.log(100.0)
WORD_TOKENIZER = "words"
PAD_ID, UNK_ID = 0, 1
_TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")


def default_captions(meta: dict) -> list[str]:
    """Clotho's layout: the clip's JSON object holds only captions, as its values."""
    return list(meta.values())


# ----- tokenizers ---------------------------------------------------------------------------------
class WordTokenizer:
    """Offline tokenizer: lower-cased words and single punctuation marks, vocabulary from training text.

    Ids are assigned by descending frequency, then alphabetically, so the vocabulary is a pure function
    of the training captions (not of their order).
    """

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.tokens = ["<pad>", "<unk>", *vocabulary]
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @staticmethod
    def split(text: str) -> list[str]:
        return _TOKEN_PATTERN.findall(text.lower())

    @classmethod
    def fit(cls, texts: Sequence[str]) -> WordTokenizer:
        counts = Counter(token for text in texts for token in cls.split(text))
        return cls(sorted(counts, key=lambda token: (-counts[token], token)))

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @property
    def description(self) -> str:
        return f"{WORD_TOKENIZER} (vocabulary of {self.vocab_size} from the training captions)"

    def encode(self, text: str) -> list[int]:
        return [self.index.get(token, UNK_ID) for token in self.split(text)]


class HuggingFaceTokenizer:
    """A transformers tokenizer, used for its ids only (with its special tokens, as upstream)."""

    def __init__(self, name: str, tokenizer: Any) -> None:
        self.name = name
        self.tokenizer = tokenizer

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    @property
    def description(self) -> str:
        return f"transformers:{self.name}"

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, truncation=True)["input_ids"])


Tokenizer = WordTokenizer | HuggingFaceTokenizer


def load_hf_tokenizer(name: str) -> HuggingFaceTokenizer:
    """Load a tokenizer from local files only; raise ImportError or OSError when that is impossible."""
    from transformers import AutoTokenizer  # optional: imported only when a task names a tokenizer

    return HuggingFaceTokenizer(name, AutoTokenizer.from_pretrained(name, local_files_only=True))


def requested_tokenizer(config: TaskConfig) -> tuple[str | None, bool]:
    """(tokenizer name or None, whether the task asked explicitly) from metric_args or dependencies."""
    explicit = config.metric_args.get("tokenizer")
    if explicit is not None:
        if not isinstance(explicit, str) or not explicit:
            raise TaskConfigError(
                f"task {config.name!r}: metric_args['tokenizer'] must be a tokenizer name or path, or "
                f"{WORD_TOKENIZER!r}; got {explicit!r}."
            )
        return (None if explicit == WORD_TOKENIZER else explicit), True
    for dependency in config.pretrained_dependencies or []:
        name, _, kind = str(dependency).rpartition(":")
        if kind == "tokenizer" and name:
            return name, False
    return None, False


def build_tokenizer(config: TaskConfig, train_captions: Sequence[str]) -> Tokenizer:
    """The task's tokenizer, or the word-level one fitted on `train_captions` (see the module notes)."""
    name, explicit = requested_tokenizer(config)
    if name is not None:
        try:
            return load_hf_tokenizer(name)
        except (ImportError, OSError, ValueError) as exc:
            if explicit:
                raise TaskConfigError(
                    f"task {config.name!r}: cannot load tokenizer {name!r} from local files "
                    f"({type(exc).__name__}: {exc}). Install transformers and save the tokenizer locally "
                    f"(AutoTokenizer.from_pretrained({name!r}).save_pretrained(PATH), then name PATH), "
                    f"or set metric_args['tokenizer'] = {WORD_TOKENIZER!r}."
                ) from exc
            logger.warning(
                "%s: tokenizer %r is not available offline (%s: %s); using the word-level tokenizer "
                "instead, so scores are not comparable with the published protocol.",
                config.name,
                name,
                type(exc).__name__,
                exc,
            )
    return WordTokenizer.fit(train_captions)


# ----- data ---------------------------------------------------------------------------------------
@dataclass
class RetrievalSplit:
    """One split as retrieval items: unique clips and their captions, captions[i] describing clip
    text_to_clip[i]; keys[j] names clip j (xares.stats.clip_keys of its first crop's sample)."""

    audio: np.ndarray  # [N_clips, D] float32
    captions: list[str]
    text_to_clip: np.ndarray  # [N_texts] int64
    keys: list[str] = field(default_factory=list)


def _read_captions(
    processor: Callable[[dict], Any], config: TaskConfig, split: Any, record: dict
) -> list[str]:
    captions = read_label(processor, config, split, record)
    if isinstance(captions, str):
        captions = [captions]
    if (
        not isinstance(captions, (list, tuple))
        or not captions
        or not all(isinstance(c, str) and c.strip() for c in captions)
    ):
        raise LabelError(
            f"task {config.name!r}, split {split!r}, shard {record['shard']}, sample {record['key']!r}: "
            f"expected a non-empty list of non-empty caption strings, got {captions!r}. A contrastive "
            "task's label_processor returns the clip's captions."
        )
    return list(captions)


def retrieval_split(config: TaskConfig, split: Any, data: SplitEmbeddings) -> RetrievalSplit:
    """Merge crops into clips (frame-weighted mean) and list every clip's captions."""
    processor = config.label_processor or default_captions
    clip_of: dict[tuple[str, str], int] = {}
    sums: list[np.ndarray] = []
    weights: list[float] = []
    captions: list[str] = []
    text_to_clip: list[int] = []
    first_samples: list[dict] = []
    frame_counts = np.diff(data.offsets)
    for index, record in enumerate(data.samples):
        identity = (str(record.get("shard")), str(record["key"]))
        weight = float(frame_counts[index])
        if identity in clip_of:  # a later crop of a clip already seen: same captions
            clip = clip_of[identity]
            sums[clip] += weight * data.pooled[index].astype(np.float64)
            weights[clip] += weight
            continue
        clip = clip_of[identity] = len(sums)
        first_samples.append({"key": record["key"]})  # the clip's key, without a crop mark
        sums.append(weight * data.pooled[index].astype(np.float64))
        weights.append(weight)
        for caption in _read_captions(processor, config, split, record):
            captions.append(caption)
            text_to_clip.append(clip)
    stacked = np.stack(sums)  # [N, D], or [N, L, D] for a learned mix of an encoder's layers
    audio = (stacked / np.asarray(weights).reshape(-1, *[1] * (stacked.ndim - 1))).astype(np.float32)
    return RetrievalSplit(
        audio=audio,
        captions=captions,
        text_to_clip=np.asarray(text_to_clip, np.int64),
        keys=clip_keys(first_samples),
    )


def concatenate(parts: list[RetrievalSplit]) -> RetrievalSplit:
    offsets = np.cumsum([0] + [len(p.audio) for p in parts[:-1]])
    return RetrievalSplit(
        audio=np.concatenate([p.audio for p in parts]),
        captions=[c for p in parts for c in p.captions],
        text_to_clip=np.concatenate([p.text_to_clip + o for p, o in zip(parts, offsets, strict=True)]),
        keys=[k for p in parts for k in p.keys],
    )


def pad_tokens(token_lists: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad with PAD_ID to the longest; the mask, not the pad id, marks real tokens."""
    length = max(1, max(len(t) for t in token_lists))
    ids = torch.full((len(token_lists), length), PAD_ID, dtype=torch.int64)
    mask = torch.zeros((len(token_lists), length), dtype=torch.bool)
    for row, tokens in enumerate(token_lists):
        ids[row, : len(tokens)] = torch.as_tensor(tokens, dtype=torch.int64)
        mask[row, : len(tokens)] = True
    return ids, mask


# ----- model --------------------------------------------------------------------------------------
class AudioTower(torch.nn.Module):
    def __init__(self, dim: int, hidden: int, out: int) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.LayerNorm(dim),
            torch.nn.Linear(dim, hidden),
            torch.nn.GELU(),
            torch.nn.Linear(hidden, out),
        )

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


class TextTower(torch.nn.Module):
    def __init__(self, vocab_size: int, hidden: int, out: int) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, hidden)
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(hidden, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, out)
        )

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        tokens = self.mlp(self.embedding(ids))  # [B, L, out]
        weights = mask.unsqueeze(-1).to(tokens.dtype)
        return (tokens * weights).sum(1) / weights.sum(1).clamp_min(1.0)


class RetrievalModel(torch.nn.Module):
    """Both towers plus the learnable log-scale of the similarities, so all three train together."""

    def __init__(
        self,
        dim: int,
        vocab_size: int,
        *,
        hidden: int,
        out: int,
        num_layers: int | None = None,
        learning_rate: float = 1e-3,  # sets the speed of a mix of layers (xares.probes.layers)
    ) -> None:
        super().__init__()
        self.audio = with_layer_mix(AudioTower(dim, hidden, out), num_layers, learning_rate=learning_rate)
        self.text = TextTower(vocab_size, hidden, out)
        self.log_scale = torch.nn.Parameter(torch.tensor(INITIAL_LOG_SCALE))


def contrastive_loss(
    model: RetrievalModel, audio: torch.Tensor, text: torch.Tensor, clips: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE over the batch; pairs of the same clip off the diagonal are masked out."""
    audio = torch.nn.functional.normalize(audio, dim=-1)
    text = torch.nn.functional.normalize(text, dim=-1)
    logits = model.log_scale.clamp(max=MAX_LOG_SCALE).exp() * audio @ text.T  # [B, B]
    same_clip = clips[:, None] == clips[None, :]
    same_clip.fill_diagonal_(False)
    return _symmetric_cross_entropy(logits.masked_fill(same_clip, float("-inf")))


def published_contrastive_loss(
    model: RetrievalModel, audio: torch.Tensor, text: torch.Tensor, clips: torch.Tensor
) -> torch.Tensor:
    """The public implementation's loss (protocol xares-0.1.3): symmetric InfoNCE over exp(s) times raw
    dot products, every off-diagonal pair a negative, plus each modality's mean |embedding| over the
    batch matrix's L2 norm (upstream-format.md, section g)."""
    info_nce = _symmetric_cross_entropy(model.log_scale.exp() * audio @ text.T)
    return info_nce + audio.abs().mean() / audio.norm() + text.abs().mean() / text.norm()


def _symmetric_cross_entropy(logits: torch.Tensor) -> torch.Tensor:
    """InfoNCE both ways: audio i's caption is text i, and text i's clip is audio i."""
    targets = torch.arange(len(logits))
    return (
        torch.nn.functional.cross_entropy(logits, targets)
        + torch.nn.functional.cross_entropy(logits.T, targets)
    ) / 2.0


LOSSES = {  # protocol -> the training loss
    "published": contrastive_loss,
    "strict": contrastive_loss,
    "xares-0.1.3": published_contrastive_loss,
}


@dataclass(frozen=True)
class RetrievalSettings(Schedule):
    hidden: int = DEFAULT_SIZE
    out: int = DEFAULT_SIZE
    protocol: str = "published"  # xares-0.1.3: upstream's loss (LOSSES)


@dataclass
class RetrievalOutcome:
    metrics: dict[str, float]  # test metrics of the best epoch
    best_epoch: int
    valid_score: float | None
    layer_weights: list[float] | None = None  # the learned mix of a multi-layer input (xares.probes.layers)
    record: ClipRecord | None = None  # per-clip test data of the best epoch (xares.stats)


class _Encoded:
    """A split's token ids, padded once, and its audio as a tensor."""

    def __init__(self, data: RetrievalSplit, tokenizer: Tokenizer) -> None:
        self.audio = torch.as_tensor(data.audio, dtype=torch.float32)
        self.ids, self.mask = pad_tokens([tokenizer.encode(c) for c in data.captions])
        self.lengths = self.mask.sum(1)
        self.text_to_clip = torch.as_tensor(data.text_to_clip)

    def texts(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        length = max(1, int(self.lengths[index].max()))
        return self.ids[index, :length], self.mask[index, :length]


@torch.no_grad()
def similarity(model: RetrievalModel, data: _Encoded, batch_size: int = 1024) -> np.ndarray:
    """Cosine similarities of every text with every clip: [N_texts, N_clips]."""
    model.eval()
    audio = torch.cat(
        [model.audio(data.audio[i : i + batch_size]) for i in range(0, len(data.audio), batch_size)]
    )
    # Texts sorted by length so each chunk pads little; results are put back in caption order.
    order = torch.argsort(data.lengths, stable=True)
    chunks = [model.text(*data.texts(order[i : i + batch_size])) for i in range(0, len(order), batch_size)]
    text = torch.empty((len(order), audio.shape[1]))
    text[order] = torch.cat(chunks)
    return similarities(audio.numpy(), text.numpy())


def train_retrieval_model(
    train: RetrievalSplit,
    valid: RetrievalSplit | None,
    test: RetrievalSplit,
    *,
    tokenizer: Tokenizer,
    settings: RetrievalSettings,
    on_epoch: Callable[[], None] | None = None,
) -> RetrievalOutcome:
    """Train on (clip, caption) pairs, keep the best epoch on validation R@1, score test once."""
    train_data = _Encoded(train, tokenizer)
    valid_data = _Encoded(valid, tokenizer) if valid is not None else None

    def build() -> torch.nn.Module:
        return RetrievalModel(
            train.audio.shape[-1],
            tokenizer.vocab_size,
            hidden=settings.hidden,
            out=settings.out,
            num_layers=layers_of(train.audio),
            learning_rate=settings.learning_rate,
        )

    def train_epoch(model: torch.nn.Module, optimiser, generator: torch.Generator) -> None:
        order = torch.randperm(len(train_data.ids), generator=generator)
        for start in range(0, len(order), settings.batch_size):
            index = order[start : start + settings.batch_size]
            if len(index) < 2:  # one pair has no negative: nothing to learn from
                continue
            clips = train_data.text_to_clip[index]
            optimiser.zero_grad(set_to_none=True)
            loss = LOSSES[settings.protocol](
                model, model.audio(train_data.audio[clips]), model.text(*train_data.texts(index)), clips
            )
            loss.backward()
            optimiser.step()

    def validate(model: torch.nn.Module) -> float:
        scores = similarity(model, valid_data)
        return retrieval_metrics_from_similarity(scores, valid.text_to_clip)[SELECTION_METRIC.name]

    fitted = fit(
        build,
        train_epoch,
        validate if valid_data is not None else None,
        schedule=settings,
        better=SELECTION_METRIC.better,
        optimiser="torch",
        on_epoch=on_epoch,
    )
    scores = similarity(fitted.model, _Encoded(test, tokenizer))
    return RetrievalOutcome(
        metrics=retrieval_metrics_from_similarity(scores, test.text_to_clip),
        best_epoch=fitted.best_epoch,
        valid_score=fitted.valid_score,
        layer_weights=learned_weights(fitted.model.audio),
        record=retrieval_record(test.keys, scores, test.text_to_clip) if test.keys else None,
    )


# ----- the probe ----------------------------------------------------------------------------------
def _positive_size(config: TaskConfig, value: Any, what: str) -> int:
    if value is None:
        return DEFAULT_SIZE
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TaskConfigError(f"task {config.name!r}: {what} must be a positive integer, got {value!r}.")
    return value


def chance_recall_at_1(data: RetrievalSplit) -> float:
    """R@1 of a scorer that ranks at random, for reference: mean of the two directions' chance."""
    num_clips, num_texts = len(data.audio), len(data.captions)
    per_clip = np.bincount(data.text_to_clip, minlength=num_clips)
    audio_to_text = float(np.mean(per_clip / num_texts))
    return (audio_to_text + 1.0 / num_clips) / 2.0


def run_retrieval_probe(
    config: TaskConfig, splits: dict[Any, SplitEmbeddings], context: ProbeContext
) -> ProbeResult:
    """Train and score the retrieval model on every train/test arrangement of the task."""
    settings = RetrievalSettings(
        **task_schedule(config, context.seed),
        hidden=_positive_size(config, config.metric_args.get("hidden_dim"), "metric_args['hidden_dim']"),
        out=_positive_size(config, config.output_dim, "output_dim"),
        protocol=context.protocol,
    )
    if config.do_knn:
        logger.info("%s: kNN does not apply to retrieval; knn_score stays empty.", config.name)
    data = {split: retrieval_split(config, split, embeddings) for split, embeddings in splits.items()}

    folds = []
    metric_names: tuple[str, ...] = ()
    for label, train_splits, valid_split, test_split in split_arrangements(config):
        train = concatenate([data[s] for s in train_splits])
        test = data[test_split]
        valid = data[valid_split] if valid_split is not None else None
        fold: dict[str, Any] = {
            "name": label,
            "num_train": len(train.audio),
            "num_train_pairs": len(train.captions),
            "num_test": len(test.audio),
            "num_test_texts": len(test.captions),
            "chance_score": chance_recall_at_1(test),
        }
        if config.do_mlp:
            tokenizer = build_tokenizer(config, train.captions)
            logger.info("%s %s: tokenizer %s", config.name, label, tokenizer.description)
            wanted, _ = requested_tokenizer(config)
            if wanted is not None and not isinstance(tokenizer, HuggingFaceTokenizer):
                fold["deviation"] = f"word-level tokenizer in place of {wanted!r} (not on this machine)"
            outcome = train_retrieval_model(
                train, valid, test, tokenizer=tokenizer, settings=settings, on_epoch=context.on_epoch
            )
            fold.update(
                mlp_score=outcome.metrics["recallatk_r1"],
                best_epoch=outcome.best_epoch,
                valid_score=outcome.valid_score,
                tokenizer=tokenizer.description,
                vocab_size=tokenizer.vocab_size,
                **{k: v for k, v in outcome.metrics.items() if k != "recallatk_r1"},
            )
            if outcome.layer_weights is not None:
                fold["layer_weights"] = outcome.layer_weights
            if outcome.record is not None:
                fold["per_clip"] = outcome.record
            metric_names = tuple(k for k in outcome.metrics if k != "recallatk_r1")
        folds.append(fold)
        logger.info(
            "%s %s: %s", config.name, label, {k: v for k, v in fold.items() if k not in ("name", "per_clip")}
        )

    return ProbeResult.from_folds(folds, metric_names=metric_names)
