"""LibriCount: how many speakers talk at once (0-10), 5-fold cross-validation over folds 0-4.

The JSON field `num_speakers` is the class index itself. Each fold is one tar without a shard number.
"""

from xares.labels import class_index, index_of
from xares.task import TaskConfig

FOLDS = [0, 1, 2, 3, 4]
CLASSES = list(range(11))
_INDEX = index_of(CLASSES)


def libricount_label(meta: dict) -> int:
    return class_index(meta, "num_speakers", _INDEX)


def libricount_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="libricount",
        formal_name="LibriCount",
        domain="speech",
        private=False,
        disabled=False,
        zenodo_id="14722478",
        encoder=encoder,
        train_split=None,
        valid_split=None,
        test_split=None,
        k_fold_splits=FOLDS,
        audio_tar_name_of_split={fold: f"libricount_fold{fold:02d}.tar" for fold in FOLDS},
        label_processor=libricount_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=1144,
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=64,
        batch_size_valid=64,
        batch_size_encode=16,
        crop_length=None,
        do_knn=True,
        pretrained_dependencies=None,
    )
