"""Speech Commands V1: 30 spoken words (no silence or unknown class), scored by accuracy."""

from xares.labels import class_index, index_of, load_labels
from xares.task import TaskConfig

CLASSES = load_labels("speechcommandsv1", __file__)
_INDEX = index_of(CLASSES)


def speechcommandsv1_label(meta: dict) -> int:
    return class_index(meta, "labels", _INDEX)


def speechcommandsv1_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="speechcommandsv1",
        formal_name="Speech Commands V1",
        domain="speech",
        private=False,
        disabled=False,
        zenodo_id="14722647",
        encoder=encoder,
        train_split="wds-audio-train",
        valid_split="wds-audio-valid",
        test_split="wds-audio-test",
        audio_tar_name_of_split={
            "wds-audio-train": "wds-audio-train*.tar",
            "wds-audio-valid": "wds-audio-valid*.tar",
            "wds-audio-test": "wds-audio-test*.tar",
        },
        label_processor=speechcommandsv1_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=2000,  # capped: the test split holds 6835 clips
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=64,
        batch_size_valid=64,
        batch_size_encode=16,
        crop_length=None,
        do_knn=True,
        pretrained_dependencies=None,
    )
