"""Real recordings: Tux Paint stamp sounds by category (bird, mammal, object), 5 folds.

Source: Debian package tuxpaint-stamps-default 2022.06.04-1 (GPL-2+), 101 recorded sounds (the spoken
descriptions, the spoken symbols/ and the 7 sounds of other animals are left out). Chance is the
share of the largest class (mammal, 42 of 101). About 80 training clips per fold: batches of 16 over
50 epochs give the head 250 steps (20 epochs of 32 gave it 60, too few to leave its starting point).
See xares.data.real.stamp_sounds for the class list and the fold design.
"""

from xares.data.real.stamp_sounds import CLASSES, FOLDS, generate
from xares.labels import class_index, index_of
from xares.task import TaskConfig

_INDEX = index_of(CLASSES)


def stamp_label(meta: dict) -> int:
    return class_index(meta, "label", _INDEX)


def stamp_sounds_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="real_stamp_sounds",
        formal_name="Real Stamp Sounds (Tux Paint)",
        domain="environment",
        encoder=encoder,
        generator=generate,
        k_fold_splits=list(range(1, FOLDS + 1)),
        audio_tar_name_of_split={fold: f"wds-audio-fold-{fold}-*.tar" for fold in range(1, FOLDS + 1)},
        label_processor=stamp_label,
        output_dim=len(CLASSES),
        metric="accuracy",
        epochs=50,
        batch_size_train=16,
        do_knn=True,
        description="Recorded stamp sounds of tuxpaint-stamps-default (Debian), 3 categories, 5 folds.",
    )
