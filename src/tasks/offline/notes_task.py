"""Offline notes: pitch regression of synthesised notes (NSynth-shaped), instruments unseen in training.

The target is the note's MIDI pitch on a 0-1 scale over C2..C6 (`normalised_pitch`), regressed by a
one-output linear head and scored by MSE (lower is better); MAE and Pearson correlation are reported
beside it. Predicting the training mean gives an MSE of about 0.085 (the variance of the pitches).
"""

from xares.data.offline.notes import generate, normalised_pitch
from xares.labels import field_of, number
from xares.task import TaskConfig


def note_pitch(meta: dict) -> float:
    return normalised_pitch(number(field_of(meta, "pitch"), field="pitch"))


def notes_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="offline_notes",
        formal_name="Offline Notes (pitch regression)",
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
        description="1.5 s notes at 16 kHz FLAC, MIDI 36-84, NSynth's JSON; instruments unseen in training.",
    )
