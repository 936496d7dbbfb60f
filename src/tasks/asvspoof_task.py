"""ASV2015: genuine (human) versus spoofed speech from ASVspoof 2015, scored by accuracy (not EER)."""

from xares.labels import class_index, index_of
from xares.task import TaskConfig

CLASSES = ["human", "spoof"]
_INDEX = index_of(CLASSES)


def asvspoof_label(meta: dict) -> int:
    return class_index(meta, "binary_spoof", _INDEX)


def asvspoof2015_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="asvspoof2015",
        formal_name="ASV2015",
        domain="speech",
        private=False,
        disabled=False,
        zenodo_id="14718430",
        encoder=encoder,
        train_split="asvspoof_train",
        valid_split="asvspoof_valid",
        test_split="asvspoof_eval",
        audio_tar_name_of_split={
            "asvspoof_train": "asvspoof_train*.tar",
            "asvspoof_valid": "asvspoof_valid*.tar",
            "asvspoof_eval": "asvspoof_eval*.tar",
        },
        mini_audio_tar_name_of_split={
            "asvspoof_train": "asvspoof_train_0000000.tar",
            "asvspoof_valid": "asvspoof_valid_0000000.tar",
            "asvspoof_eval": "asvspoof_eval_0000000.tar",
        },
        label_processor=asvspoof_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=2000,  # capped: the test split holds 190948 utterances
        epochs=5,
        learning_rate=1e-3,
        batch_size_train=64,
        batch_size_valid=64,
        batch_size_encode=16,
        crop_length=None,
        do_knn=True,
        pretrained_dependencies=None,
    )
