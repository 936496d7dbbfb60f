"""Real recordings: pitch regression of sampled instrument notes (freepats), instruments unseen in training.

Same clips and splits as real_instrument_family; the target is the sample's root pitch (MIDI) on the
0-1 scale over C2..C6 of the offline notes task, scored by MSE (lower is better). Predicting the
training mean is the chance level.
"""

from xares.data.offline.notes import normalised_pitch
from xares.data.real.freepats import generate
from xares.labels import field_of, number
from xares.task import TaskConfig


def note_pitch(meta: dict) -> float:
    return normalised_pitch(number(field_of(meta, "pitch"), field="pitch"))


def instrument_pitch_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="real_instrument_pitch",
        formal_name="Real Instrument Pitch (freepats)",
        domain="music",
        encoder=encoder,
        generator=generate,
        train_split="train",
        valid_split="valid",
        test_split="test",
        task_type="clip",
        label_processor=note_pitch,
        output_dim=1,
        metric="MSE",
        criterion="MSELoss",
        epochs=20,
        learning_rate=1e-2,
        batch_size_train=32,
        do_knn=False,
        description="1 s recorded notes of freepats GUS patches (Debian), root pitch; instruments unseen.",
    )
