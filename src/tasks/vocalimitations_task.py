"""Vocal Imitation: which of 302 reference sounds a vocal imitation imitates, 3-fold over folds 0-2.

The JSON field `imitation` names the reference sound (e.g. '000Animal_Domestic animals_ pets_Cat_
Growling_reference'). The domain is not stated upstream; 'environment' is inferred from the classes.
Clips are encoded one at a time (batch_size_encode=1). The config function's name is fixed (upstream:
vocalimiations_config); the task name, the directory of the published data, is unchanged.
"""

from xares.labels import class_index, index_of, load_labels
from xares.task import TaskConfig

FOLDS = [0, 1, 2]
CLASSES = load_labels("vocalimitations", __file__)
_INDEX = index_of(CLASSES)


def vocalimitations_label(meta: dict) -> int:
    return class_index(meta, "imitation", _INDEX)


def vocalimitations_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="vocalimitations",
        formal_name="Vocal Imitation",
        domain="environment",
        private=False,
        disabled=False,
        zenodo_id="14862060",
        encoder=encoder,
        train_split=None,
        valid_split=None,
        test_split=None,
        k_fold_splits=FOLDS,
        audio_tar_name_of_split={fold: f"vocal_imitations_fold{fold:02d}_0000000.tar" for fold in FOLDS},
        label_processor=vocalimitations_label,
        task_type="clip",
        output_dim=len(CLASSES),
        metric="accuracy",
        metric_args={},
        criterion="CrossEntropyLoss",
        eval_weight=1867,
        epochs=20,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=1,
        crop_length=None,
        do_knn=True,
        pretrained_dependencies=None,
    )
