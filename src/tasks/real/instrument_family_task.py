"""Real recordings: General MIDI family of sampled instrument notes (freepats); instruments unseen.

Source: Debian package freepats 20060219-4 (GPL-2+ with font exception), 352 samples of the families
with >= 3 instruments (12 of the 16 GM families; the head has 16 outputs, the other 4 never occur).
See xares.data.real.freepats for the class list and the split. Chance: the test set's largest class
(piano, 12 of 69 = 0.17).
"""

from xares.data.real.freepats import FAMILIES, generate
from xares.labels import class_index, index_of
from xares.task import TaskConfig

_INDEX = index_of(FAMILIES)


def family_label(meta: dict) -> int:
    return class_index(meta, "family", _INDEX)


def instrument_family_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="real_instrument_family",
        formal_name="Real Instrument Family (freepats)",
        domain="music",
        encoder=encoder,
        generator=generate,
        train_split="train",
        valid_split="valid",
        test_split="test",
        label_processor=family_label,
        output_dim=len(FAMILIES),
        metric="accuracy",
        epochs=20,
        learning_rate=1e-2,
        batch_size_train=32,
        do_knn=True,
        description="1 s recorded notes of freepats GUS patches (Debian); instruments disjoint in splits.",
    )
