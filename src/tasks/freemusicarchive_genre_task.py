"""Free Music Archive (small): 8 genres, scored by accuracy over 10 s crops.

Each track is cut into consecutive 10 s crops (the remainder after the last full crop is dropped);
every crop is a separate training and test example carrying the track's genre.
"""

from xares.labels import class_index, index_of
from xares.task import TaskConfig

CLASSES = ["Hip-Hop", "Pop", "Folk", "Experimental", "Rock", "International", "Electronic", "Instrumental"]
_INDEX = index_of(CLASSES)


def fma_genre_label(meta: dict) -> int:
    return class_index(meta, "genre", _INDEX)


def fma_genre_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="freemusicarchive",
        formal_name="Free Music Archive Small",
        domain="music",
        private=False,
        disabled=False,
        zenodo_id="14725056",
        encoder=encoder,
        train_split="fma_small_train",
        valid_split="fma_small_valid",
        test_split="fma_small_test",
        audio_tar_name_of_split={
            "fma_small_train": "fma_small_train*.tar",
            "fma_small_valid": "fma_small_valid*.tar",
            "fma_small_test": "fma_small_test*.tar",
        },
        label_processor=fma_genre_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=800,
        epochs=3,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=16,
        crop_length=10,
        do_knn=True,
        pretrained_dependencies=None,
    )
