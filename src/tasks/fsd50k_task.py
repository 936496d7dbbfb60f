"""FSD50k: multi-label tagging with 200 classes, scored by macro mAP over 10 s crops.

The JSON field `soundevent` holds the class names joined by ';'; the label processor returns a
multi-hot vector of length 200. Clips shorter than 10 s are zero-padded to one crop; longer ones give
one crop per full 10 s, each with the clip's whole label set. kNN is off (multi-label).
"""

from xares.labels import index_of, load_labels, multi_hot
from xares.task import TaskConfig

CLASSES = load_labels("fsd50k", __file__)
_INDEX = index_of(CLASSES)


def fsd50k_multi_hot(meta: dict) -> list[float]:
    return multi_hot(meta, "soundevent", _INDEX, separator=";")


def fsd50k_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="fsd50k",
        formal_name="FSD50k",
        domain="environment",
        private=False,
        disabled=False,
        zenodo_id="14868441",
        encoder=encoder,
        train_split="fsd50k_train",
        valid_split="fsd50k_validation",
        test_split="fsd50k_eval",
        audio_tar_name_of_split={
            "fsd50k_train": "fsd50k_train*.tar",
            "fsd50k_validation": "fsd50k_validation*.tar",
            "fsd50k_eval": "fsd50k_eval*.tar",
        },
        label_processor=fsd50k_multi_hot,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="mAP",
        metric_args={},
        criterion="BCEWithLogitsLoss",
        eval_weight=2000,  # capped: the test split holds 10231 clips
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=64,
        batch_size_valid=64,
        batch_size_encode=16,
        crop_length=10,
        do_knn=False,
        pretrained_dependencies=None,
    )
