"""Offline spoken-language identification: 8 languages read out by espeak-ng voices (VoxLingua-shaped).

Scored by accuracy; the languages are balanced, so chance is 1/8 = 0.125. Test voices are unseen in
training.
"""

from xares.data.offline.languages import LANGUAGES, generate
from xares.labels import class_index, index_of
from xares.task import TaskConfig

_INDEX = index_of(LANGUAGES)


def language_label(meta: dict) -> int:
    return class_index(meta, "labels", _INDEX)


def languages_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="offline_languages",
        formal_name="Offline Languages (espeak-ng)",
        domain="speech",
        encoder=encoder,
        generator=generate,
        train_split="train",
        valid_split="valid",
        test_split="test",
        label_processor=language_label,
        output_dim=len(LANGUAGES),
        metric="accuracy",
        epochs=20,
        learning_rate=1e-2,
        batch_size_train=32,
        do_knn=True,
        description="VoxLingua-shaped: 3 s clips, 16 kHz FLAC, language code in labels; test voices unseen.",
    )
