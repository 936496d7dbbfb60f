"""UrbanSound8K: 10 urban sound classes, 10-fold cross-validation over the official folds 1-10."""

from xares.labels import class_index, index_of
from xares.task import TaskConfig

FOLDS = list(range(1, 11))
CLASSES = [
    "air_conditioner",
    "car_horn",
    "children_playing",
    "dog_bark",
    "drilling",
    "engine_idling",
    "gun_shot",
    "jackhammer",
    "siren",
    "street_music",
]
_INDEX = index_of(CLASSES)


def urbansound8k_label(meta: dict) -> int:
    return class_index(meta, "soundevent", _INDEX)


def urbansound8k_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="urbansound8k",
        formal_name="UrbanSound 8k",
        domain="environment",
        private=False,
        disabled=False,
        zenodo_id="14722683",
        encoder=encoder,
        train_split=None,
        valid_split=None,
        test_split=None,
        k_fold_splits=FOLDS,
        audio_tar_name_of_split={fold: f"urbansound_fold{fold}_0000000.tar" for fold in FOLDS},
        label_processor=urbansound8k_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=873,
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=16,
        crop_length=None,
        do_knn=True,
        pretrained_dependencies=None,
    )
