"""FSD18-Kaggle (FSDKaggle2018): 41 sound classes, scored by accuracy.

Validation and test are the same split (fsd18_test), so checkpoint selection sees the test data, as
published. kNN is off upstream although the task is single-label; kept so for comparability.
"""

from xares.labels import class_index, index_of, load_labels
from xares.task import TaskConfig

CLASSES = load_labels("fsdkaggle2018", __file__)
_INDEX = index_of(CLASSES)


def fsdkaggle2018_label(meta: dict) -> int:
    return class_index(meta, "sound", _INDEX)


def fsdkaggle2018_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="fsdkaggle2018",
        formal_name="FSD18-Kaggle",
        domain="environment",
        private=False,
        disabled=False,
        zenodo_id="14725117",
        encoder=encoder,
        train_split="fsd18_train",
        valid_split="fsd18_test",
        test_split="fsd18_test",
        audio_tar_name_of_split={
            "fsd18_train": "fsd18_train*.tar",
            "fsd18_test": "fsd18_test*.tar",
        },
        label_processor=fsdkaggle2018_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=1600,
        epochs=3,
        learning_rate=1e-3,
        batch_size_train=64,
        batch_size_valid=64,
        batch_size_encode=16,
        crop_length=None,
        do_knn=False,
        pretrained_dependencies=None,
    )
