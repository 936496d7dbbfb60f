"""Offline speaker count: 1-4 espeak-ng voices talking at once (LibriCount-shaped), scored by accuracy.

The class is `num_speakers - 1`; the counts are balanced, so chance is 0.25. Test voices are unseen
in training.
"""

from xares.data.offline.speaker_count import MAX_SPEAKERS, generate
from xares.labels import class_index, index_of
from xares.task import TaskConfig

COUNTS = list(range(1, MAX_SPEAKERS + 1))
_INDEX = index_of(COUNTS)


def speaker_count_label(meta: dict) -> int:
    return class_index(meta, "num_speakers", _INDEX)


def speaker_count_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="offline_speaker_count",
        formal_name="Offline Speaker Count (espeak-ng)",
        domain="speech",
        encoder=encoder,
        generator=generate,
        train_split="train",
        valid_split="valid",
        test_split="test",
        label_processor=speaker_count_label,
        output_dim=len(COUNTS),
        metric="accuracy",
        epochs=20,
        learning_rate=1e-2,
        batch_size_train=32,
        do_knn=True,
        description="LibriCount-shaped: 4 s clips at 16 kHz FLAC, JSON num_speakers; unseen test voices.",
    )
