"""Every public task file against the published facts (tests/facts/public_tasks.json).

The facts are generated from the reference of the public X-ARES task files
(tests/facts/make_public_task_facts.py); a task file that drifts from them fails here, in CI.
A deliberate deviation is listed in DEVIATIONS with its reason, and in the README section
"The protocol, briefly"; nothing else may differ.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xares.task import load_task_config

ROOT = Path(__file__).resolve().parents[1]
FACTS = json.loads((ROOT / "tests" / "facts" / "public_tasks.json").read_text())["tasks"]
README = (ROOT / "README.md").read_text()

# (task name, field): (our value, why it differs from the published one). Each is in the README's
# "The protocol, briefly". None of these changes a score: they are the same setting written in the
# form our TaskConfig takes.
DEVIATIONS: dict[tuple[str, str], tuple[object, str]] = {
    ("desed", "metric_args"): (
        {"segment_length_in_s": 1.0, "hop_size_in_ms": None},
        "hop_size_in_ms None means the encoder's hop, filled in at run time (upstream writes "
        "encoder.hop_size_in_ms into the task file)",
    ),
    ("maestro", "metric_args"): (
        {"segment_length_in_s": 0.1, "hop_size_in_ms": None, "pos_weight": 10.0},
        "the encoder's hop as for desed; pos_weight=10 of the published BCEWithLogitsLoss is carried "
        "in metric_args, where the frame head reads it",
    ),
    ("maestro", "criterion"): (
        "BCEWithLogitsLoss",
        "the published criterion is BCEWithLogitsLoss(pos_weight=10); the weight is in metric_args",
    ),
    ("librispeech", "criterion"): (
        "CrossEntropyLoss",
        "upstream names no criterion: the LM computes its own causal-LM cross-entropy; "
        "CrossEntropyLoss is the same loss under our criterion names",
    ),
}


def _splits(config) -> dict | None:
    if config.k_fold_splits is not None:
        return None
    return {"train": config.train_split, "valid": config.valid_split, "test": config.test_split}


def ours(config) -> dict:
    """The TaskConfig's values under the facts' field names."""
    return {
        "name": config.name,
        "formal_name": config.formal_name,
        "domain": config.domain,
        "zenodo_id": config.zenodo_id,
        "task_type": config.task_type,
        "splits": _splits(config),
        "k_fold_splits": config.k_fold_splits,
        "audio_tar_patterns": {str(k): v for k, v in config.audio_tar_name_of_split.items()},
        "mini_audio_tar_patterns": {str(k): v for k, v in config.mini_audio_tar_name_of_split.items()},
        "output_dim": config.output_dim,
        "criterion": config.criterion,
        "metric": config.metric,
        "metric_args": config.metric_args,
        "eval_weight": config.eval_weight,
        "epochs": config.epochs,
        "learning_rate": config.learning_rate,
        "batch_size_train": config.batch_size_train,
        "batch_size_valid": config.batch_size_valid,
        "batch_size_encode": config.batch_size_encode,
        "crop_length": config.crop_length,
        "do_knn": config.do_knn,
        "use_mini_dataset": config.use_mini_dataset,
        "pretrained_dependencies": config.pretrained_dependencies,
    }


def _published(facts: dict) -> dict:
    published = {k: facts[k] for k in FIELDS}
    published["audio_tar_patterns"] = {str(k): v for k, v in (facts["audio_tar_patterns"] or {}).items()}
    published["mini_audio_tar_patterns"] = {
        str(k): v for k, v in (facts["mini_audio_tar_patterns"] or {}).items()
    }
    return published


FIELDS = [
    "name",
    "formal_name",
    "domain",
    "zenodo_id",
    "task_type",
    "splits",
    "k_fold_splits",
    "audio_tar_patterns",
    "mini_audio_tar_patterns",
    "output_dim",
    "criterion",
    "metric",
    "metric_args",
    "eval_weight",
    "epochs",
    "learning_rate",
    "batch_size_train",
    "batch_size_valid",
    "batch_size_encode",
    "crop_length",
    "do_knn",
    "use_mini_dataset",
    "pretrained_dependencies",
]


def differences(facts: dict) -> dict[str, tuple]:
    config = load_task_config(ROOT / facts["file"], encoder=None)
    mine, published = ours(config), _published(facts)
    return {f: (published[f], mine[f]) for f in FIELDS if mine[f] != published[f]}


@pytest.mark.parametrize("facts", FACTS, ids=[f["name"] for f in FACTS])
def test_a_public_task_file_keeps_the_published_facts(facts):
    found = differences(facts)
    unlisted = {f: v for f, v in found.items() if DEVIATIONS.get((facts["name"], f), (object(),))[0] != v[1]}
    assert not unlisted, f"{facts['file']} drifts from the published task (published, ours): {unlisted}"
    stale = [f for (task, f) in DEVIATIONS if task == facts["name"] and f not in found]
    assert not stale, f"DEVIATIONS lists {stale} for {facts['name']}, but the task file now matches"


@pytest.mark.parametrize("facts", FACTS, ids=[f["name"] for f in FACTS])
def test_the_label_field_and_class_order_are_the_published_ones(facts):
    """Each published class, put in the published label field, maps to its published position."""
    labels, keys = facts["labels"] or [], facts["label_keys"]
    config = load_task_config(ROOT / facts["file"], encoder=None)
    if config.task_type == "frame":
        names = [f"MIDI {n}" if isinstance(n, int) else n for n in labels]
        assert config.class_names == names
        return
    if not labels:  # the class is the field's own value (esc50, gender) or there are no classes
        assert config.task_type in {"asr", "contrastive"} or facts["output_dim"] in {2, 50}
        return
    assert len(keys) == 1 and config.output_dim == len(labels)
    for position, label in enumerate(labels):
        target = config.label_processor({keys[0]: label})
        if config.criterion == "BCEWithLogitsLoss":  # multi-label: a vector with one 1 at the class
            assert target == [1.0 if i == position else 0.0 for i in range(len(labels))], label
        else:
            assert target == position, (label, target)


def test_the_facts_cover_every_public_task_file():
    """A new public task file needs facts; one not at the upstream HEAD is named here with its reason."""
    not_upstream = {"speechocean762_task.py": "dropped from upstream before HEAD; kept as a public task"}
    files = {p.name for p in (ROOT / "src" / "tasks").glob("*_task.py")}
    assert files - set(not_upstream) == {Path(f["file"]).name for f in FACTS}


@pytest.mark.parametrize(("task", "field"), sorted(DEVIATIONS))
def test_every_deviation_is_in_the_readme(task, field):
    section = README.split("## The protocol, briefly", 1)[1].split("\n## ", 1)[0]
    assert f"{task}: {field}" in section, f"README 'The protocol, briefly' lacks '{task}: {field}'"
