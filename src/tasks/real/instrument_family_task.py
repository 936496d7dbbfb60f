"""Real recordings: General MIDI family of sampled instrument notes (freepats); instruments unseen.

Source: Debian package freepats 20060219-4 (GPL-2+ with font exception), the recorded samples of the
9 GM families with >= 4 instruments; 5 folds, instruments disjoint across folds, so every test note
is of an instrument the probe never heard. See xares.data.real.freepats for the class list and the
folds. Chance: the share of the largest class over all folds (guitar, 63 of 343 notes: 0.184).
"""

from xares.data.real.freepats import CLASSES, FOLDS, generate
from xares.labels import class_index, index_of
from xares.task import TaskConfig

_INDEX = index_of(CLASSES)


def family_label(meta: dict) -> int:
    return class_index(meta, "family", _INDEX)


def instrument_family_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="real_instrument_family",
        formal_name="Real Instrument Family (freepats)",
        domain="music",
        encoder=encoder,
        generator=generate,
        k_fold_splits=list(range(1, FOLDS + 1)),
        audio_tar_name_of_split={fold: f"wds-audio-fold-{fold}-*.tar" for fold in range(1, FOLDS + 1)},
        label_processor=family_label,
        output_dim=len(CLASSES),
        metric="accuracy",
        epochs=20,
        learning_rate=1e-2,
        batch_size_train=32,
        do_knn=True,
        description="1 s notes of freepats GUS patches (Debian), 9 GM families, instruments apart in folds.",
    )
