"""Real recordings: English or Spanish spoken by the same speaker (Allison's Asterisk prompts).

Source: Debian packages asterisk-core-sounds-en-wav and -es-wav 1.6.1-1 (CC-BY-SA-3.0). One speaker
on both sides, so the label is the language, not the voice; prompt names disjoint across splits.
See xares.data.real.allison_languages for the design. Chance ~0.5.
"""

from xares.data.real.allison_languages import LANGUAGES, generate
from xares.labels import class_index, index_of
from xares.task import TaskConfig

_INDEX = index_of(LANGUAGES)


def language_label(meta: dict) -> int:
    return class_index(meta, "label", _INDEX)


def allison_languages_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="real_allison_languages",
        formal_name="Real Language, one speaker (Allison en/es)",
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
        description="Asterisk prompts by Allison in US English and Mexican Spanish (Debian), 8 kHz WAV.",
    )
