"""Real recordings: pitch regression of sampled instrument notes (freepats), instruments unseen in training.

Same clips and folds as real_instrument_family (instruments disjoint across the 5 folds); the target
is the sample's root pitch (MIDI) on the 0-1 scale over C2..C6 of the offline notes task, scored by
MSE (lower is better). Predicting the training folds' mean is the chance level.
"""

from xares.data.offline.notes import normalised_pitch
from xares.data.real.freepats import FOLDS, generate
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
        k_fold_splits=list(range(1, FOLDS + 1)),
        audio_tar_name_of_split={fold: f"wds-audio-fold-{fold}-*.tar" for fold in range(1, FOLDS + 1)},
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
