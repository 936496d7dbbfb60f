"""GTZAN: 10 music genres, 10-fold cross-validation over folds 0-9 (one shard a fold), by accuracy."""

from xares.labels import class_index, index_of
from xares.task import TaskConfig

FOLDS = list(range(10))
CLASSES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
_INDEX = index_of(CLASSES)


def gtzan_genre_label(meta: dict) -> int:
    return class_index(meta, "genre", _INDEX)


def gtzan_genre_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="gtzan_genre",
        formal_name="GTZAN Genre",
        domain="music",
        private=False,
        disabled=False,
        zenodo_id="14722472",
        encoder=encoder,
        train_split=None,
        valid_split=None,
        test_split=None,
        k_fold_splits=FOLDS,
        audio_tar_name_of_split={fold: f"gtzan_fold_{fold}_0000000.tar" for fold in FOLDS},
        label_processor=gtzan_genre_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=100,
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=16,
        crop_length=None,
        do_knn=True,
        pretrained_dependencies=None,
    )
