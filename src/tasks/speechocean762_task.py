"""speechocean762: pronunciation-accuracy regression of non-native English speech, scored by MSE.

Removed from X-ARES upstream on 2025-02-02 (commit 6138231); restored here with its published data
(Zenodo record 14725291). The target is the JSON field `accuracy` as a float (lower MSE is better);
a linear head with one output regresses it. Validation and test are the same split, as upstream had.

eval_weight: upstream gave this task none (it was removed before eval_weight existed). Upstream's
documented rule for the others is the test-set size, capped at 2000; speechocean762's test set is
2500 utterances (half of its 5000), so the rule gives 2000.
"""

from xares.labels import field_of, number
from xares.task import TaskConfig


def speechocean762_score(meta: dict) -> float:
    return number(field_of(meta, "accuracy"), field="accuracy")


def speechocean762_config(encoder) -> TaskConfig:
    return TaskConfig(
        name="speechocean762",
        formal_name="speechocean762",
        domain="speech",
        private=False,
        disabled=False,
        zenodo_id="14725291",
        encoder=encoder,
        train_split="speechocean762_train",
        valid_split="speechocean762_test",
        test_split="speechocean762_test",
        audio_tar_name_of_split={
            "speechocean762_train": "speechocean762_train*.tar",
            "speechocean762_test": "speechocean762_test*.tar",
        },
        label_processor=speechocean762_score,
        task_type="clip",
        output_dim=1,
        metric="MSE",
        metric_args={},
        criterion="MSELoss",
        eval_weight=2000,  # test-set size 2500, capped at 2000 like every other task (docstring)
        epochs=25,
        learning_rate=1e-3,
        batch_size_train=32,
        batch_size_valid=32,
        batch_size_encode=1,
        crop_length=None,
        do_knn=False,
        pretrained_dependencies=None,
    )
