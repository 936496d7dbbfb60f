import dataclasses

import pytest

from xares.errors import TaskConfigError
from xares.task import TaskConfig


def test_is_a_dataclass_with_upstream_fields():
    names = {f.name for f in dataclasses.fields(TaskConfig)}
    for upstream in (
        "name",
        "formal_name",
        "env_root",
        "train_split",
        "valid_split",
        "test_split",
        "k_fold_splits",
        "label_processor",
        "task_type",
        "output_dim",
        "metric",
        "metric_args",
        "criterion",
        "eval_weight",
        "epochs",
        "learning_rate",
        "batch_size_train",
        "crop_length",
        "do_knn",
        "zenodo_id",
        "private",
        "disabled",
    ):
        assert upstream in names


def test_misspelt_keyword_is_named_with_a_suggestion():
    with pytest.raises(TaskConfigError, match=r"no field 'epoch'.*Did you mean 'epochs'"):
        TaskConfig(name="t", epoch=5)


def test_misspelt_attribute_after_construction_is_refused():
    config = TaskConfig(name="t")
    with pytest.raises(TaskConfigError, match="learning_rte"):
        config.learning_rte = 0.1
    config.learning_rate = 0.1
    assert config.learning_rate == 0.1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "non-empty"),
        ({"name": "a/b"}, "plain directory"),
        ({"name": "t", "metric": "acuracy"}, "Did you mean 'accuracy'"),
        ({"name": "t", "task_type": "segment"}, "task_type"),
        ({"name": "t", "epochs": 0}, "epochs"),
        ({"name": "t", "learning_rate": -1}, "learning_rate"),
        ({"name": "t", "k_fold_splits": [1]}, "two folds"),
        ({"name": "t", "crop_length": -2}, "crop_length"),
        ({"name": "t", "label_processor": 3}, "callable"),
        ({"name": "t", "output_dim": 3, "class_names": ["a", "b"]}, "class_names must be a list of"),
        ({"name": "t", "class_names": "abc"}, "class_names must be a list of"),
    ],
)
def test_bad_values_are_refused(kwargs, message):
    with pytest.raises(TaskConfigError, match=message):
        TaskConfig(**kwargs)


def test_splits_and_patterns():
    config = TaskConfig(name="t", valid_split="test")
    assert config.data_splits() == ["train", "test"]
    assert config.shard_pattern("train") == "train*.tar"
    folds = TaskConfig(name="f", k_fold_splits=[1, 2, 3])
    assert folds.data_splits() == [1, 2, 3]
    assert folds.shard_pattern(2) == "wds-audio-fold-2-*.tar"
    custom = TaskConfig(name="c", audio_tar_name_of_split={"train": "x_train_*.tar"})
    assert custom.shard_pattern("train") == "x_train_*.tar"


def test_data_fingerprint_follows_the_data_fields():
    base = TaskConfig(name="t")
    assert base.data_fingerprint() == TaskConfig(name="t", epochs=3).data_fingerprint()
    assert base.data_fingerprint() != TaskConfig(name="t", crop_length=2.0).data_fingerprint()
