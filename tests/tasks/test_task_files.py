"""Every task file in src/tasks/: it builds, validates, and agrees with the published X-ARES facts.

The facts compared against live in upstream_facts.json beside this file, extracted from the
project's reference notes on upstream X-ARES (upstream-tasks.json, not part of this repository) by
running this file: `python tests/tasks/test_task_files.py [path/to/upstream-tasks.json]`. Where that
reference exists, a test checks that the fixture still matches it, and that every class list equals
upstream's verbatim; elsewhere (CI) those two tests are skipped and the fixture stands in.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from xares.errors import LabelError, TaskConfigError
from xares.task import TaskConfig

REPO = Path(__file__).resolve().parents[2]
TASKS_DIR = REPO / "src" / "tasks"
TASK_FILES = sorted(TASKS_DIR.glob("*_task.py"))
FACTS_FILE = Path(__file__).with_name("upstream_facts.json")
FACTS: dict[str, dict[str, Any]] = (
    json.loads(FACTS_FILE.read_text(encoding="utf-8")) if FACTS_FILE.is_file() else {}
)
REFERENCE = Path(os.environ.get("XARES_UPSTREAM_TASKS", "/work/shared/reference/upstream-tasks.json"))

EXPECTED_TASKS = {
    "asvspoof2015",
    "clotho",
    "cremad",
    "desed",
    "esc50",
    "fluentspeechcommands",
    "freemusicarchive",
    "fsd50k",
    "fsdkaggle2018",
    "gtzan_genre",
    "libricount",
    "librispeech",
    "librispeechmalefemale",
    "maestro",
    "nsynthinstument",
    "ravdess",
    "speechcommandsv1",
    "speechocean762",
    "urbansound8k",
    "vocalimitations",
    "vocalsound",
    "voxceleb1",
    "voxlingua33",
}
# Upstream typos fixed in config function names (the task `name`, a data directory, keeps its spelling).
RENAMED_FUNCTIONS = {
    "nysnthinstument_config": "nsynth_instrument_config",
    "vocalimiations_config": "vocalimitations_config",
}
# Label processors whose output is not a class index.
LABEL_FORMS = {
    "fsd50k": "multi_hot",
    "desed": "events",
    "maestro": "notes",
    "clotho": "captions",
    "librispeech": "text",
    "speechocean762": "float",
}
# Classes that upstream-tasks.json gives in prose rather than as a list.
DERIVED_FIRST_LAST = {"esc50": (0, 49), "librispeechmalefemale": ("M", "F")}
FACT_FIELDS = (
    "file",
    "config_function",
    "formal_name",
    "domain",
    "zenodo_id",
    "private",
    "disabled",
    "task_type",
    "splits",
    "k_fold_splits",
    "audio_tar_patterns",
    "mini_audio_tar_patterns",
    "label_keys",
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
)

FAKE_ENCODER = SimpleNamespace(sampling_rate=16000, hop_size_in_ms=10, output_dim=8)


# ----- the fixture and how it is made -------------------------------------------------------------
def facts_from_reference(reference: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The facts the tests compare against: every non-private task of the reference, by name."""
    facts = {}
    for task in reference:
        if task["private"]:
            continue  # private tasks ship no data; this repository does not define them
        entry = {key: task[key] for key in FACT_FIELDS}
        labels = task["labels"]
        if isinstance(labels, list):
            entry.update(num_labels=len(labels), first_label=labels[0], last_label=labels[-1])
        elif task["name"] in DERIVED_FIRST_LAST:
            first, last = DERIVED_FIRST_LAST[task["name"]]
            entry.update(num_labels=task["output_dim"], first_label=first, last_label=last)
        facts[task["name"]] = entry
    return facts


def _load_reference() -> list[dict[str, Any]]:
    if not REFERENCE.is_file():
        pytest.skip(f"upstream reference {REFERENCE} not present (only on the project's machines)")
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


# ----- loading task files -------------------------------------------------------------------------
_MODULES: dict[Path, ModuleType] = {}


def load_module(path: Path) -> ModuleType:
    """Import a task file by path, once, registered in sys.modules so its functions pickle."""
    if path not in _MODULES:
        name = f"_xares_test_task_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _MODULES[path] = module
    return _MODULES[path]


def config_function(module: ModuleType):
    found = [(k, v) for k, v in vars(module).items() if k.endswith("_config")]
    assert len(found) == 1, f"{module.__file__}: expected one attribute ending in '_config', got {found}"
    name, function = found[0]
    assert callable(function), f"{module.__file__}: {name} is not callable"
    return name, function


def build(path: Path, encoder: Any = None) -> TaskConfig:
    return config_function(load_module(path))[1](encoder)


def task_ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


# ----- the tests ----------------------------------------------------------------------------------
def test_every_public_task_and_speechocean762_has_a_file():
    names = sorted(build(path).name for path in TASK_FILES)
    assert len(names) == len(set(names)), f"task names repeat across files: {names}"
    assert set(names) == EXPECTED_TASKS
    assert len(TASK_FILES) == 23
    assert set(FACTS) == EXPECTED_TASKS


@pytest.mark.parametrize("path", TASK_FILES, ids=task_ids(TASK_FILES))
@pytest.mark.parametrize("encoder", [None, FAKE_ENCODER], ids=["no-encoder", "fake-encoder"])
def test_config_builds_and_validates(path: Path, encoder: Any):
    config = build(path, encoder)
    assert isinstance(config, TaskConfig)
    config.validate()
    assert config.encoder is encoder
    assert config.name in FACTS
    for split in config.data_splits():
        assert split in config.audio_tar_name_of_split, f"{config.name}: no shard pattern for {split!r}"
    for split in config.mini_audio_tar_name_of_split:
        assert split in config.data_splits()
    if config.task_type == "frame":
        expected = encoder.hop_size_in_ms if encoder is not None else None
        assert config.metric_args["hop_size_in_ms"] == expected
    else:
        assert "hop_size_in_ms" not in config.metric_args


@pytest.mark.parametrize("path", TASK_FILES, ids=task_ids(TASK_FILES))
def test_file_and_function_names_follow_upstream(path: Path):
    facts = FACTS[build(path).name]
    assert path.name == Path(facts["file"]).name
    name, _ = config_function(load_module(path))
    assert name == RENAMED_FUNCTIONS.get(facts["config_function"], facts["config_function"])


@pytest.mark.parametrize("path", TASK_FILES, ids=task_ids(TASK_FILES))
def test_config_matches_upstream_facts(path: Path):
    config = build(path, FAKE_ENCODER)
    facts = FACTS[config.name]
    assert config.zenodo_id == facts["zenodo_id"]
    if facts["eval_weight"] is None:  # speechocean762 was removed before eval_weight existed
        assert isinstance(config.eval_weight, int) and config.eval_weight > 0
    else:
        assert config.eval_weight == facts["eval_weight"]
    if facts["formal_name"] is not None:
        assert config.formal_name == facts["formal_name"]
    for key in ("domain", "private", "disabled", "task_type", "output_dim", "metric", "epochs"):
        assert getattr(config, key) == facts[key], key
    for key in ("learning_rate", "batch_size_train", "batch_size_valid", "batch_size_encode"):
        assert getattr(config, key) == facts[key], key
    assert config.crop_length == facts["crop_length"]
    assert config.do_knn == facts["do_knn"]
    upstream_criterion = facts["criterion"].split(" ")[0]  # "BCEWithLogitsLoss with pos_weight=10"
    if not upstream_criterion.startswith("("):  # "(model-internal causal-LM cross-entropy)"
        assert config.criterion == upstream_criterion
    if "pos_weight=" in facts["criterion"]:  # the frame probe reads it from metric_args
        expected = float(facts["criterion"].split("pos_weight=")[1].split(" ")[0])
        assert config.metric_args["pos_weight"] == expected
    else:
        assert "pos_weight" not in config.metric_args
    if "segment_length_in_s" in facts["metric_args"]:
        assert config.metric_args["segment_length_in_s"] == facts["metric_args"]["segment_length_in_s"]

    if facts["k_fold_splits"] is not None:
        assert config.k_fold_splits == facts["k_fold_splits"]
        assert (config.train_split, config.valid_split, config.test_split) == (None, None, None)
    else:
        assert not config.k_fold_splits
        splits = facts["splits"]
        assert (config.train_split, config.valid_split, config.test_split) == (
            splits["train"],
            splits["valid"],
            splits["test"],
        )
    patterns = {str(k): v for k, v in config.audio_tar_name_of_split.items()}
    assert patterns == facts["audio_tar_patterns"]
    mini = {str(k): v for k, v in config.mini_audio_tar_name_of_split.items()}
    assert mini == (facts["mini_audio_tar_patterns"] or {})


@pytest.mark.parametrize("path", TASK_FILES, ids=task_ids(TASK_FILES))
def test_output_dim_is_the_number_of_classes(path: Path):
    module = load_module(path)
    config = build(path)
    facts = FACTS[config.name]
    if LABEL_FORMS.get(config.name) in ("captions", "text", "float"):
        assert not hasattr(module, "CLASSES")
        return
    assert len(module.CLASSES) == config.output_dim == facts["num_labels"]
    assert len(set(module.CLASSES)) == len(module.CLASSES)


@pytest.mark.parametrize("path", TASK_FILES, ids=task_ids(TASK_FILES))
def test_label_processor_maps_first_and_last_class_and_rejects_unknown(path: Path):
    config = build(path)
    facts = FACTS[config.name]
    process = config.label_processor
    assert process is not None
    form = LABEL_FORMS.get(config.name, "index")
    keys = facts["label_keys"]

    with pytest.raises(LabelError):
        process({})  # a sample without the label field
    if form == "text":
        assert process({"trans": "HELLO WORLD", "speaker": 19, "gender": "F"}) == "HELLO WORLD"
        with pytest.raises(LabelError):
            process({"trans": 5})
        return
    if form == "captions":
        captions = {f"caption_{i}": f"caption number {i}" for i in range(1, 6)}
        assert process(captions) == list(captions.values())
        with pytest.raises(LabelError):
            process({"caption_1": None})
        return
    if form == "float":
        assert process({keys[0]: 7}) == 7.0
        assert process({keys[0]: "8.5"}) == 8.5
        for bad in ("excellent", None, float("nan"), True):
            with pytest.raises(LabelError):
                process({keys[0]: bad})
        return

    first, last, n = facts["first_label"], facts["last_label"], facts["num_labels"]
    unknown = n if isinstance(first, int) and form != "notes" else "<not a class>"
    if form == "index":
        assert process({keys[0]: first}) == 0
        assert process({keys[0]: last}) == n - 1
        bad_samples = [{keys[0]: unknown}, {keys[0]: [first]}]
    elif form == "multi_hot":
        assert process({keys[0]: first}) == [1.0] + [0.0] * (n - 1)
        both = process({keys[0]: f"{first};{last}"})
        assert len(both) == n and both[0] == both[-1] == 1.0 and sum(both) == 2.0
        bad_samples = [{keys[0]: unknown}, {keys[0]: f"{first};{unknown}"}]
    elif form == "events":
        onset, offset, label = keys
        sample = [
            {onset: 0.5, offset: 2.0, label: first},
            {onset: 3.0, offset: 9.5, label: f"{last},{first}"},
        ]
        assert process(sample) == [(0.5, 2.0, 0), (3.0, 9.5, n - 1), (3.0, 9.5, 0)]
        assert process([]) == []
        bad_samples = [
            [{onset: 0.0, offset: 1.0, label: unknown}],
            [{onset: 2.0, offset: 1.0, label: first}],
            {onset: 0.0, offset: 1.0, label: first},
        ]
    else:  # notes: MIDI pitches
        start, end, note = keys
        assert process([{start: 0.0, end: 0.25, note: first}, {start: 1, end: 2, note: last}]) == [
            (0.0, 0.25, 0),
            (1.0, 2.0, n - 1),
        ]
        bad_samples = [[{start: 0.0, end: 1.0, note: last + 1}], [{start: 0.0, end: 1.0, note: "C4"}]]
    for bad in bad_samples:
        with pytest.raises(LabelError):
            process(bad)


@pytest.mark.parametrize("path", TASK_FILES, ids=task_ids(TASK_FILES))
def test_label_processor_is_a_picklable_module_function(path: Path):
    process = build(path).label_processor
    assert process.__name__ != "<lambda>"
    assert pickle.loads(pickle.dumps(process)) is process


def test_label_error_names_the_value_and_the_valid_classes():
    config = build(TASKS_DIR / "crema_d_task.py")
    with pytest.raises(LabelError, match=r"label='X'.*\['H', 'S', 'A', 'F', 'D', 'N'\]") as caught:
        config.label_processor({"label": "X"})
    assert caught.value.value == "X"
    assert caught.value.valid == ["H", "S", "A", "F", "D", "N"]
    assert caught.value.field == "label"
    config = build(TASKS_DIR / "voxceleb1_task.py")
    with pytest.raises(LabelError, match=r"'id99999'.*1251 classes") as caught:
        config.label_processor({"speakerid": "id99999"})
    assert len(caught.value.valid) == 1251
    with pytest.raises(LabelError, match=r"no field 'speakerid'; its fields are \['speaker'\]"):
        config.label_processor({"speaker": "id10001"})


def test_voxceleb1_keeps_upstream_speaker_order():
    module = load_module(TASKS_DIR / "voxceleb1_task.py")
    assert module.CLASSES[:2] == ["id10003", "id10004"]
    assert module.CLASSES.index("id10001") == 15
    assert sorted(module.CLASSES) != module.CLASSES


def test_class_lists_equal_upstream_verbatim():
    reference = {task["name"]: task for task in _load_reference()}
    for path in TASK_FILES:
        module = load_module(path)
        labels = reference[build(path).name]["labels"]
        if isinstance(labels, list):
            assert list(module.CLASSES) == labels, path.name


def test_fixture_matches_reference():
    assert facts_from_reference(_load_reference()) == FACTS, (
        "upstream_facts.json is stale: regenerate it with `python tests/tasks/test_task_files.py`"
    )


def test_load_labels_refuses_a_malformed_file(tmp_path):
    import xares.labels as labels

    task_file = tmp_path / "some_task.py"
    (tmp_path / "labels").mkdir()
    tmp_path = tmp_path / "labels"
    (tmp_path / "good_list_for_test.txt").write_text("a\nb’c\n", encoding="utf-8")
    (tmp_path / "blank_line_for_test.txt").write_text("a\n\nb\n", encoding="utf-8")
    (tmp_path / "padded_for_test.txt").write_text("a\nb \n", encoding="utf-8")
    (tmp_path / "repeated_for_test.txt").write_text("a\nb\na\n", encoding="utf-8")
    assert labels.load_labels("good_list_for_test", task_file) == ["a", "b’c"]
    with pytest.raises(TaskConfigError, match="line 2"):
        labels.load_labels("blank_line_for_test", task_file)
    with pytest.raises(TaskConfigError, match="surrounding whitespace"):
        labels.load_labels("padded_for_test", task_file)
    with pytest.raises(TaskConfigError, match=r"more than once: \['a'\]"):
        labels.load_labels("repeated_for_test", task_file)
    with pytest.raises(TaskConfigError, match="good_list_for_test"):
        labels.load_labels("no_such_list_for_test", task_file)


if __name__ == "__main__":  # regenerate the fixture from the reference
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else REFERENCE
    facts = facts_from_reference(json.loads(source.read_text(encoding="utf-8")))
    FACTS_FILE.write_text(json.dumps(facts, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(facts)} tasks to {FACTS_FILE}")
