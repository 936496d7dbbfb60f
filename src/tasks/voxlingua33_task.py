"""VoxLingua33: spoken-language identification over a 33-language subset of VoxLingua107, by accuracy.

Validation and test are the same split ('dev'), so checkpoint selection sees the test data, as
published. Utterances are cut into 10 s crops.
"""

from xares.labels import class_index, index_of, load_labels
from xares.task import TaskConfig

CLASSES = load_labels("voxlingua33", __file__)
_INDEX = index_of(CLASSES)


def voxlingua33_label(meta: dict) -> int:
    return class_index(meta, "labels", _INDEX)


def voxlingua33_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="voxlingua33",
        formal_name="VoxLingua33",
        domain="speech",
        private=False,
        disabled=False,
        zenodo_id="14812245",
        encoder=encoder,
        train_split="train_subset",
        valid_split="dev",
        test_split="dev",
        audio_tar_name_of_split={
            "train_subset": "train_subset*.tar",
            "dev": "dev*.tar",
        },
        mini_audio_tar_name_of_split={"train_subset": "train_subset_2k_00000{00..01}.tar"},
        label_processor=voxlingua33_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=1609,
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=64,
        batch_size_valid=64,
        batch_size_encode=16,
        crop_length=10,
        do_knn=True,
        pretrained_dependencies=None,
    )
