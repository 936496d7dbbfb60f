"""NSynth-Instruments: 11 instrument families of single notes, scored by accuracy.

The file name and the task name keep upstream's spelling ("instument"): the name is the directory of
the published data, and the file name keeps upstream command lines working. The config function's
name is fixed (upstream: nysnthinstument_config); it is found by its '_config' suffix.
"""

from xares.labels import class_index, index_of
from xares.task import TaskConfig

CLASSES = [
    "guitar",
    "bass",
    "organ",
    "keyboard",
    "vocal",
    "string",
    "reed",
    "flute",
    "mallet",
    "brass",
    "synth_lead",
]
_INDEX = index_of(CLASSES)


def nsynth_instrument_label(meta: dict) -> int:
    return class_index(meta, "instrument_family_str", _INDEX)


def nsynth_instrument_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="nsynthinstument",
        formal_name="NSynth-Instruments",
        domain="music",
        private=False,
        disabled=False,
        zenodo_id="14725174",
        encoder=encoder,
        train_split="nsynth_train",
        valid_split="nsynth_valid",
        test_split="nsynth_test",
        audio_tar_name_of_split={
            "nsynth_train": "nsynth_train*.tar",
            "nsynth_valid": "nsynth_valid*.tar",
            "nsynth_test": "nsynth_test*.tar",
        },
        mini_audio_tar_name_of_split={
            "nsynth_train": "nsynth_train_sub55k_0000000.tar",
            "nsynth_valid": "nsynth_valid_0000001.tar",
            "nsynth_test": "nsynth_test*.tar",
        },
        label_processor=nsynth_instrument_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=2000,  # capped: the test split holds 4096 notes
        epochs=10,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=16,
        crop_length=None,
        do_knn=True,
        pretrained_dependencies=None,
    )
