"""Offline sound classes: ESC-50-shaped 5-fold classification of synthetic sound classes."""

from xares.data.offline.sound_classes import CLASSES, generate
from xares.task import TaskConfig


def sound_class_label(meta: dict) -> int:
    return int(meta["label"])


def sound_classes_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="offline_sound_classes",
        formal_name="Offline Sound Classes",
        domain="environment",
        encoder=encoder,
        generator=generate,
        k_fold_splits=[1, 2, 3, 4, 5],
        audio_tar_name_of_split={fold: f"wds-audio-fold-{fold}-*.tar" for fold in range(1, 6)},
        label_processor=sound_class_label,
        output_dim=len(CLASSES),
        metric="accuracy",
        epochs=20,
        do_knn=True,
        description="2 s clips at 44.1 kHz WAV (exercises resampling), integer labels like ESC-50.",
    )
