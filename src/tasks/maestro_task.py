"""MAESTRO: frame-level piano note activity (MIDI 21-107, 87 classes), micro segment F1 on 0.1 s segments.

The sample's JSON is a list of notes with `start` and `end` in seconds and `note`, the MIDI pitch.
The label processor returns [(start_s, end_s, pitch - 21), ...]; the frame probe turns seconds into
frames with the encoder's hop (upstream: ceil(start/hop) up to, not including, ceil(end/hop)). Pitch
108 is outside the published class map and is refused. Whole pieces are encoded one at a time.

Upstream trains with BCEWithLogitsLoss(pos_weight=10), one scalar for all classes; the frame probe
reads it from metric_args["pos_weight"] (TaskConfig has no field for loss arguments).
"""

from xares.labels import events, index_of
from xares.task import TaskConfig

CLASSES = list(range(21, 108))  # MIDI pitch; class index = pitch - 21
_INDEX = index_of(CLASSES)
POS_WEIGHT = 10.0


def maestro_notes(meta: list) -> list[tuple[float, float, int]]:
    return events(meta, start_key="start", end_key="end", class_key="note", index=_INDEX)


def maestro_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="maestro",
        formal_name="MAESTRO",
        domain="music",
        private=False,
        disabled=False,
        zenodo_id="14858022",
        encoder=encoder,
        train_split="maestro_train",
        valid_split="maestro_valid",
        test_split="maestro_test",
        audio_tar_name_of_split={
            "maestro_train": "maestro_train*.tar",
            "maestro_valid": "maestro_valid*.tar",
            "maestro_test": "maestro_test*.tar",
        },
        label_processor=maestro_notes,
        task_type="frame",
        output_dim=len(CLASSES),
        class_names=[f"MIDI {pitch}" for pitch in CLASSES],
        metric="segmentf1_micro",
        metric_args={
            "segment_length_in_s": 0.1,
            "hop_size_in_ms": encoder.hop_size_in_ms if encoder is not None else None,
            "pos_weight": POS_WEIGHT,
        },
        criterion="BCEWithLogitsLoss",
        eval_weight=65,
        epochs=50,
        learning_rate=1e-3,
        batch_size_train=1,
        batch_size_valid=1,
        batch_size_encode=1,
        crop_length=None,
        do_knn=False,
        pretrained_dependencies=None,
    )
