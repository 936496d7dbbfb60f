"""DESED: frame-level detection of 10 domestic sound events, scored by macro segment F1 on 1 s segments.

The sample's JSON is a list of events with `onset` and `offset` in seconds and `label`, one or more
class names joined by commas. The label processor returns [(onset_s, offset_s, class index), ...], one
tuple per named class; the frame probe turns seconds into frames with the encoder's hop (upstream:
frames ceil(onset/hop) up to, not including, ceil(offset/hop), on a 10 s grid). Validation and test
are the same split, so checkpoint selection sees the test data, as published.
"""

from xares.labels import events, index_of
from xares.task import TaskConfig

CLASSES = [
    "Cat",
    "Speech",
    "Running_water",
    "Dishes",
    "Electric_shaver_toothbrush",
    "Vacuum_cleaner",
    "Blender",
    "Alarm_bell_ringing",
    "Dog",
    "Frying",
]
_INDEX = index_of(CLASSES)


def desed_events(meta: list) -> list[tuple[float, float, int]]:
    return events(meta, start_key="onset", end_key="offset", class_key="label", index=_INDEX, separator=",")


def desed_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="desed",
        formal_name="DESED",
        domain="environment",
        private=False,
        disabled=False,
        zenodo_id="14808180",
        encoder=encoder,
        train_split="wds-audio-train",
        valid_split="wds-audio-eval",
        test_split="wds-audio-eval",
        audio_tar_name_of_split={
            "wds-audio-train": "wds-audio-train*.tar",
            "wds-audio-eval": "wds-audio-eval*.tar",
        },
        label_processor=desed_events,
        task_type="frame",
        output_dim=len(CLASSES),
        class_names=list(CLASSES),
        metric="segmentf1_macro",
        metric_args={
            "segment_length_in_s": 1.0,
            "hop_size_in_ms": encoder.hop_size_in_ms if encoder is not None else None,
        },
        criterion="BCEWithLogitsLoss",
        eval_weight=1153,
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=16,
        crop_length=None,
        do_knn=False,
        pretrained_dependencies=None,
    )
