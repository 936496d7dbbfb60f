"""VocalSound: six non-speech vocalisations (laughter, sigh, ...), speaker-disjoint splits, by accuracy.

The split names are plain train/valid/test, so the shards are train*.tar, valid*.tar and test*.tar.
Upstream maps an unknown label to -1 (which the loss would then reject); here it is a LabelError.
"""

from xares.labels import class_index, index_of
from xares.task import TaskConfig

CLASSES = ["laughter", "sigh", "throatclearing", "cough", "sneeze", "sniff"]
_INDEX = index_of(CLASSES)


def vocalsound_label(meta: dict) -> int:
    return class_index(meta, "label", _INDEX)


def vocalsound_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="vocalsound",
        formal_name="VocalSound",
        domain="speech",
        private=False,
        disabled=False,
        zenodo_id="14722710",
        encoder=encoder,
        train_split="train",
        valid_split="valid",
        test_split="test",
        audio_tar_name_of_split={
            "train": "train*.tar",
            "valid": "valid*.tar",
            "test": "test*.tar",
        },
        label_processor=vocalsound_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=2000,  # capped: the test split holds 3594 clips
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=16,
        crop_length=None,
        do_knn=True,
        pretrained_dependencies=None,
    )
