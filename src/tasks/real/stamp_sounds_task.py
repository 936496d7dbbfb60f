"""Real recordings: Tux Paint stamp sounds by category (bird, mammal, other animal, object), 5 folds.

Source: Debian package tuxpaint-stamps-default 2022.06.04-1 (GPL-2+), about 110 recorded sounds (the
spoken descriptions and the spoken symbols/ are left out). Chance is the share of the largest class.
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
        epochs=20,
        do_knn=True,
        description="Recorded stamp sounds of tuxpaint-stamps-default (Debian), 4 categories, 5 folds.",
    )
