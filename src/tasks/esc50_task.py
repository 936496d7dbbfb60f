"""ESC-50: 50 environmental sound classes, 5-fold cross-validation over the official folds 1-5.

The JSON field `label` already holds the class index 0-49 (the dataset's `target` column).
"""

from xares.labels import class_index, index_of
from xares.task import TaskConfig

FOLDS = [1, 2, 3, 4, 5]
CLASSES = list(range(50))
_INDEX = index_of(CLASSES)


def esc50_label(meta: dict) -> int:
    return class_index(meta, "label", _INDEX)


def esc50_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="esc50",
        formal_name="ESC-50",
        domain="environment",
        private=False,
        disabled=False,
        zenodo_id="14614287",
        encoder=encoder,
        train_split=None,
        valid_split=None,
        test_split=None,
        k_fold_splits=FOLDS,
        audio_tar_name_of_split={fold: f"wds-audio-fold-{fold}-*.tar" for fold in FOLDS},
        label_processor=esc50_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=400,
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=16,
        crop_length=None,
        do_knn=True,
        pretrained_dependencies=None,
    )
