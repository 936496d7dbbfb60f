"""Real recordings: English or Spanish prompts by the same speaker (Allison), language and session.

Source: Debian packages asterisk-core-sounds-en-wav and -es-wav 1.6.1-1 (CC-BY-SA-3.0). One voice on
both sides, but the two languages come from two recording sessions whose noise floors alone tell
them apart (0.94 from the pauses' spectrum): a score here is language identification or session
recognition, and the task cannot say which. Prompt names disjoint across splits. See
xares.data.real.allison_languages for the design. Chance 0.52 (107 of 206 test clips are English).
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
        formal_name="Real en/es Prompts, one speaker (language + session)",
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
