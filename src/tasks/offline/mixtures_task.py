"""Offline multi-label tagging: mixtures of 1-3 synthetic sources, scored by mAP (FSD50k-shaped)."""

from xares.data.offline.mixtures import CLASSES, generate
from xares.errors import LabelError
from xares.task import TaskConfig

CLASS_INDEX = {name: index for index, name in enumerate(CLASSES)}


def multi_hot(meta: dict) -> list[float]:
    target = [0.0] * len(CLASSES)
    for name in meta["soundevent"].split(";"):
        if name not in CLASS_INDEX:
            raise LabelError(f"unknown sound event {name!r}; expected names from {list(CLASSES)}")
        target[CLASS_INDEX[name]] = 1.0
    return target


def mixtures_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="offline_mixtures",
        formal_name="Offline Mixtures (multi-label)",
        domain="environment",
        encoder=encoder,
        generator=generate,
        label_processor=multi_hot,
        output_dim=len(CLASSES),
        metric="mAP",
        criterion="BCEWithLogitsLoss",
        epochs=20,
        do_knn=False,
        description="3 s mixtures at 22.05 kHz FLAC; labels are semicolon-separated like FSD50k.",
    )
