"""Fluent Speech Commands: 248 classes, one per distinct transcription (not per intent), by accuracy.

The class names are the transcriptions, matched exactly: three of them use the typographic apostrophe
U+2019 and the others ASCII apostrophes (labels/fluentspeechcommands.txt). Clips are encoded one at a
time (batch_size_encode=1) so no clip is zero-padded to a batch-mate's length.
"""

from xares.labels import class_index, index_of, load_labels
from xares.task import TaskConfig

CLASSES = load_labels("fluentspeechcommands", __file__)
_INDEX = index_of(CLASSES)


def fluentspeechcommands_label(meta: dict) -> int:
    return class_index(meta, "transcription", _INDEX)


def fluentspeechcommands_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="fluentspeechcommands",
        formal_name="Fluent Speech Commands",
        domain="speech",
        private=False,
        disabled=False,
        zenodo_id="14722453",
        encoder=encoder,
        train_split="fluentspeechcommands_train",
        valid_split="fluentspeechcommands_valid",
        test_split="fluentspeechcommands_test",
        audio_tar_name_of_split={
            "fluentspeechcommands_train": "fluentspeechcommands_train*.tar",
            "fluentspeechcommands_valid": "fluentspeechcommands_valid*.tar",
            "fluentspeechcommands_test": "fluentspeechcommands_test*.tar",
        },
        label_processor=fluentspeechcommands_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=2000,  # capped: the test split holds 3793 utterances
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=1,
        crop_length=None,
        do_knn=True,
        pretrained_dependencies=None,
    )
