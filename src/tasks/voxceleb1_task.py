"""VoxCeleb1: speaker identification over all 1251 speakers, on 6 s crops, scored by accuracy.

The class order is upstream's own, not sorted (index 0 is id10003; id10001 comes later), and is
kept verbatim in labels/voxceleb1.txt: re-deriving it by sorting would change every class index.
"""

from xares.labels import class_index, index_of, load_labels
from xares.task import TaskConfig

CLASSES = load_labels("voxceleb1", __file__)
_INDEX = index_of(CLASSES)


def voxceleb1_label(meta: dict) -> int:
    return class_index(meta, "speakerid", _INDEX)


def voxceleb1_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="voxceleb1",
        formal_name="VoxCeleb1",
        domain="speech",
        private=False,
        disabled=False,
        zenodo_id="14811963",
        encoder=encoder,
        train_split="voxceleb1_train",
        valid_split="voxceleb1_valid",
        test_split="voxceleb1_test",
        audio_tar_name_of_split={
            "voxceleb1_train": "voxceleb1_train*.tar",
            "voxceleb1_valid": "voxceleb1_valid*.tar",
            "voxceleb1_test": "voxceleb1_test*.tar",
        },
        mini_audio_tar_name_of_split={"voxceleb1_train": "voxceleb1_train_00000{00..02}.tar"},
        label_processor=voxceleb1_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=2000,  # capped: the test split holds 8251 utterances
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=16,
        crop_length=6,
        do_knn=True,
        pretrained_dependencies=None,
    )
