"""The score cache's key is declared by tagging TaskConfig fields: every tagged field must move the key,
every other field must leave it, or a rerun would reuse scores made under other settings (or retrain
heads for nothing)."""

import dataclasses
import json
import logging

import pytest

from xares import score_cache
from xares.taskconfig import TaskConfig, fields_tagged, unused_fields_set


def base_config(**changes) -> TaskConfig:
    settings = dict(
        name="t",
        output_dim=3,
        audio_tar_name_of_split={"train": "train-*.tar", "valid": "valid-*.tar", "test": "test-*.tar"},
        mini_audio_tar_name_of_split={"train": "tr-mini.tar", "valid": "va-mini.tar", "test": "te-mini.tar"},
    )
    settings.update(changes)
    return TaskConfig(**settings)


def key_path(config: TaskConfig, **changes) -> str:
    arguments = dict(
        encoder_fingerprint="e" * 64,
        hop_size_in_ms=10.0,
        stores={"train": {"clips": 3}},
        skip_bad_samples=False,
        protocol="published",
        seeds=[42],
    )
    arguments.update(changes)
    return str(score_cache.entry_path(config, "enc", score_cache.score_key(config, **arguments)))


# a value of the right type, other than base_config's, for each field that may move a key
CHANGED = {
    "name": "u",
    "train_split": "tr",
    "valid_split": None,
    "test_split": "te",
    "k_fold_splits": ["1", "2"],
    "audio_tar_name_of_split": {"train": "a-*.tar", "valid": "b-*.tar", "test": "c-*.tar"},
    "mini_audio_tar_name_of_split": {"train": "x.tar", "valid": "y.tar", "test": "z.tar"},
    "use_mini_dataset": True,
    "crop_length": 4.0,
    "label_processor": lambda meta: meta["other"],
    "task_type": "frame",
    "output_dim": 5,
    "metric": "mAP",
    "class_names": ["a", "b", "c"],
    "metric_args": {"segment_length_in_s": 0.5},
    "criterion": "BCEWithLogitsLoss",
    "epochs": 3,
    "learning_rate": 0.01,
    "batch_size_train": 8,
    "do_mlp": False,
    "do_knn": False,
    "knn_k": 5,
    "knn_temperature": 0.5,
    "layer": "weighted",
    "seed": 1,
}
# the mini selection is only read under use_mini_dataset
ALONGSIDE = {"mini_audio_tar_name_of_split": {"use_mini_dataset": True}}
KEYED = set(fields_tagged("score_key", "probe")) | set(fields_tagged("score_key", "own"))
DATA = set(fields_tagged("data_key"))


def test_every_field_that_moves_a_key_is_tagged_and_has_a_test_value():
    assert set(CHANGED) == KEYED | DATA


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_a_tagged_field_moves_the_score_key(name):
    context = ALONGSIDE.get(name, {})
    assert key_path(base_config(**context, **{name: CHANGED[name]})) != key_path(base_config(**context))


@pytest.mark.parametrize("name", sorted(DATA))
def test_a_data_field_moves_the_data_fingerprint(name):
    context = ALONGSIDE.get(name, {})
    changed = base_config(**context, **{name: CHANGED[name]})
    assert changed.data_fingerprint() != base_config(**context).data_fingerprint()


UNTAGGED = {
    "formal_name": "Other",
    "domain": "music",
    "private": True,
    "env_root": "/elsewhere",
    "zenodo_id": "123",
    "force_download": True,
    "force_encode": True,
    "force_mlp": True,
    "force_knn": True,
    "pretrained_dependencies": ["x:tokenizer"],
    "encoder": object(),
    "batch_size_encode": 4,
    "eval_weight": 7,
    "description": "words",
    "batch_size_valid": 64,
    "num_training_workers": 3,
    "num_validation_workers": 3,
    "sort_by_length": True,
    "save_encoded_per_batches": 10,
    "num_encoder_workers": 1,
    "encoded_tar_name_of_split": {"train": "enc-*.tar"},
    "merge_processor": max,
}


def test_every_field_is_either_keyed_or_known_not_to_be():
    names = {f.name for f in dataclasses.fields(TaskConfig)}
    assert names - set(CHANGED) - set(UNTAGGED) == {"disabled", "generator"}  # no key without scores


@pytest.mark.parametrize("name", sorted(set(UNTAGGED) - {"env_root"}))
def test_an_untagged_field_leaves_the_score_key(name):
    assert key_path(base_config(**{name: UNTAGGED[name]})) == key_path(base_config())


def test_run_options_and_stores_move_the_key():
    base = key_path(base_config())
    for change in (
        {"encoder_fingerprint": "f" * 64},
        {"hop_size_in_ms": 20.0},
        {"stores": {"train": {"clips": 4}}},
        {"skip_bad_samples": True},
        {"protocol": "strict"},
        {"seeds": [42, 43]},
    ):
        assert key_path(base_config(), **change) != base, change


def test_unused_upstream_fields_are_reported_with_their_reason():
    config = base_config(batch_size_valid=64, sort_by_length=True, num_encoder_workers=4)  # 4: the default
    found = unused_fields_set(config)
    assert sorted(found) == ["batch_size_valid", "sort_by_length"]
    assert all(reason for reason in found.values())
    assert unused_fields_set(base_config()) == {}


def test_unreadable_or_incomplete_entries_are_not_trusted(tmp_path, caplog):
    path = tmp_path / "entry.json"
    assert score_cache.read_entry(path) is None
    path.write_text('{"mlp_score": 0.5, "knn', encoding="utf-8")  # cut off mid-write by a crash
    with caplog.at_level(logging.WARNING):
        assert score_cache.read_entry(path) is None
    assert "unreadable score cache entry" in caplog.text
    path.write_text(json.dumps({"mlp_score": 0.5}), encoding="utf-8")
    assert score_cache.read_entry(path) is None
    path.write_text("[1, 2]", encoding="utf-8")
    assert score_cache.read_entry(path) is None


def test_an_older_entry_reads_with_defaults_for_what_it_lacks(tmp_path):
    path = tmp_path / "scores" / "entry.json"
    score_cache.write_entry(path, {"mlp_score": 0.5, "knn_score": None, "num_test_clips": 3, "folds": []})
    fields = score_cache.entry_fields(score_cache.read_entry(path))
    assert fields["mlp_score"] == 0.5 and fields["num_layers"] == 1 and fields["per_clip"] is None
    assert set(fields) == set(score_cache.ENTRY_FIELDS)
