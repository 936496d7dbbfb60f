"""CREMA-D: six emotions of acted speech, scored by accuracy.

Labels are one-letter codes: H happy, S sad, A angry, F fear, D disgust, N neutral. Upstream maps an
unknown code to -1 (which the loss would then reject); here it is a LabelError at once.
"""

from xares.labels import class_index, index_of
from xares.task import TaskConfig

CLASSES = ["H", "S", "A", "F", "D", "N"]
_INDEX = index_of(CLASSES)


def cremad_label(meta: dict) -> int:
    return class_index(meta, "label", _INDEX)


def cremad_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="cremad",
        formal_name="CREMA-D",
        domain="speech",
        private=False,
        disabled=False,
        zenodo_id="14646870",
        encoder=encoder,
        train_split="wds-audio-train",
        valid_split="wds-audio-valid",
        test_split="wds-audio-test",
        audio_tar_name_of_split={
            "wds-audio-train": "wds-audio-train*.tar",
            "wds-audio-valid": "wds-audio-valid*.tar",
            "wds-audio-test": "wds-audio-test*.tar",
        },
        label_processor=cremad_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=1116,
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=16,
        crop_length=None,
        do_knn=True,
        pretrained_dependencies=None,
    )
