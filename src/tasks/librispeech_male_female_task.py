"""LibriSpeech-MF: speaker gender (M/F) on 5 s crops of LibriSpeech utterances, scored by accuracy.

Upstream maps 'M' to 0 and anything else to 1; here only 'M' and 'F' are accepted, so a malformed
sample is an error instead of a silent 'F'. The class order is unchanged (0 = M, 1 = F).
"""

from xares.labels import class_index, index_of
from xares.task import TaskConfig

CLASSES = ["M", "F"]
_INDEX = index_of(CLASSES)


def librispeech_gender_label(meta: dict) -> int:
    return class_index(meta, "gender", _INDEX)


def librispeech_male_female_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="librispeechmalefemale",
        formal_name="LibriSpeech-MF",
        domain="speech",
        private=False,
        disabled=False,
        zenodo_id="14716252",
        encoder=encoder,
        train_split="train-clean-100",
        valid_split="dev-clean",
        test_split="test-clean",
        audio_tar_name_of_split={
            "train-clean-100": "train-clean-100*.tar",
            "dev-clean": "dev-clean*.tar",
            "test-clean": "test-clean*.tar",
        },
        mini_audio_tar_name_of_split={"train-clean-100": "train-clean-100-000000.tar"},
        label_processor=librispeech_gender_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=2620,
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=16,
        crop_length=5,
        do_knn=True,
        pretrained_dependencies=None,
    )
