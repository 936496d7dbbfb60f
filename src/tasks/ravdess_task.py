"""RAVDESS: 8 emotions of acted speech, 4-fold cross-validation over folds 0-3, by accuracy."""

from xares.labels import class_index, index_of
from xares.task import TaskConfig

FOLDS = [0, 1, 2, 3]
CLASSES = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
_INDEX = index_of(CLASSES)


def ravdess_label(meta: dict) -> int:
    return class_index(meta, "emotion", _INDEX)


def ravdess_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="ravdess",
        formal_name="RAVDESS",
        domain="speech",
        private=False,
        disabled=False,
        zenodo_id="14722524",
        encoder=encoder,
        train_split=None,
        valid_split=None,
        test_split=None,
        k_fold_splits=FOLDS,
        audio_tar_name_of_split={fold: f"ravdess_fold_{fold}_0000000.tar" for fold in FOLDS},
        label_processor=ravdess_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=360,
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=16,
        crop_length=None,
        do_knn=True,
        pretrained_dependencies=None,
    )
