"""Offline keyword spotting: 12 English words spoken by espeak-ng voices; test voices unseen in training."""

from xares.data.offline.keywords import WORDS, generate
from xares.errors import LabelError
from xares.task import TaskConfig

CLASS_INDEX = {word: index for index, word in enumerate(WORDS)}


def keyword_label(meta: dict) -> int:
    word = meta["label"]
    if word not in CLASS_INDEX:
        raise LabelError(f"unknown keyword {word!r}; expected one of {list(WORDS)}")
    return CLASS_INDEX[word]


def keywords_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="offline_keywords",
        formal_name="Offline Keywords (espeak-ng)",
        domain="speech",
        encoder=encoder,
        generator=generate,
        train_split="train",
        valid_split="valid",
        test_split="test",
        label_processor=keyword_label,
        output_dim=len(WORDS),
        metric="accuracy",
        epochs=20,
        batch_size_train=32,
        do_knn=True,
        description="Speech-Commands-shaped: 1 s clips at 16 kHz FLAC, speakers disjoint across splits.",
    )
