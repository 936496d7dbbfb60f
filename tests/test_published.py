"""The published X-ARES tables as results documents (published:NAME), and suite fingerprints."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from xares import cli, compare, report
from xares.errors import ArtifactError
from xares.published import published_document, published_models, suite_fingerprint
from xares.task import load_task_config

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"
PUBLIC = json.loads((ROOT / "tests" / "facts" / "public_tasks.json").read_text())["tasks"]


@pytest.mark.parametrize("model", ["dasheng", "wav2vec2", "whisper", "data2vec"])
def test_every_published_model_reads_as_a_valid_results_document(model):
    document = report.load_results(f"published:{model}")
    assert document["run"]["published"] and document["run"]["protocol"] == "published"
    for task in document["tasks"]:
        assert task["published"]["split"] in {"full", "mini"} and task["published"]["xares_version"]
        assert task["per_clip"] is None and task["scores"]["mlp_score"]["ci95"] is None
    # the published tasks carry the published eval_weights and metrics of the task files
    by_name = {t["name"]: t for t in document["tasks"]}
    for facts in PUBLIC:
        assert (by_name[facts["name"]]["eval_weight"], by_name[facts["name"]]["metric"]) == (
            facts["eval_weight"],
            facts["metric"],
        )


@pytest.mark.parametrize("model", ["dasheng", "wav2vec2", "whisper", "data2vec"])
def test_the_knn_averages_reproduce_the_published_ones(model):
    """The README's kNN averages follow from its table (its MLP ones do not: see upstream-format h)."""
    document = report.load_results(f"published:{model}")
    readme = document["run"]["published_averages"]
    assert document["averages"]["knn_all"]["value"] == pytest.approx(readme["knn_all"], abs=6e-4)
    assert document["averages"]["knn_public"]["value"] == pytest.approx(readme["knn_public"], abs=1.5e-3)


def test_librispeech_is_the_v013_number_with_the_earlier_one_beside_it():
    task = next(t for t in published_document("published:data2vec")["tasks"] if t["name"] == "librispeech")
    assert task["published"]["xares_version"] == "0.1.3"
    assert task["mlp_score"] != task["published"]["mlp_score_before_0_1_3"]


def test_an_unknown_model_names_the_published_ones():
    with pytest.raises(ArtifactError, match="published:dasheng"):
        report.load_results("published:beats")
    assert published_models() == ["dasheng", "wav2vec2", "whisper", "data2vec"]


def test_compare_with_a_published_table_averages_over_the_tasks_both_hold():
    ours = copy.deepcopy(published_document("published:whisper"))
    ours["encoder"] = {**ours["encoder"], "name": "mine", "fingerprint": "f" * 64}
    ours["tasks"] = [t for t in ours["tasks"] if t["name"] in {"esc50", "gtzan_genre", "librispeech"}]
    ours["tasks"][0]["mlp_score"] += 0.1
    ours = report.add_statistics(ours, resamples=0)
    theirs = report.load_results("published:dasheng")
    rows = {(r.name, r.probe): r for r in compare.compare_results(ours, theirs, resamples=0)}
    assert {n for n, _ in rows if not n.startswith("average")} == {"esc50", "gtzan_genre", "librispeech"}
    average = rows[("average_public", "mlp")]
    weights = {t["name"]: t["eval_weight"] for t in theirs["tasks"]}
    expected = sum(
        t["mlp_score"] * weights[t["name"]]
        for t in theirs["tasks"]
        if t["name"] in weights and t["name"] in {"esc50", "gtzan_genre", "librispeech"}
    ) / sum(weights[n] for n in ("esc50", "gtzan_genre", "librispeech"))
    assert average.reported_b == pytest.approx(expected) and "3 tasks both hold" in average.label
    assert average.test is None and rows[("esc50", "mlp")].test is None


def test_the_commands_read_published_names(capsys):
    assert cli.main(["compare", "published:data2vec", "published:whisper", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| Fluent Speech Commands | 0.978 | 0.776 | +0.202 |" in out
    assert "no paired test: no per-clip data" in out
    assert cli.main(["report", "published:dasheng", "published:whisper", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| LibriSpeech-100h | 0.724 | **0.815** |" in out and "| MAESTRO | **0.524** | 0.011 |" in out


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/reference beside the checkout")
def test_the_shipped_tables_are_the_generated_ones():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make", ROOT / "tests" / "facts" / "make_published_scores.py"
    )
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    assert make.build(REFERENCE) == json.loads(make.OUT.read_text())


def test_the_suite_fingerprint_names_the_task_that_changed(tmp_path):
    files = [tmp_path / Path(f).name for f in ("src/tasks/esc50_task.py", "src/tasks/gtzan_task.py")]
    for file in files:
        shutil.copy(ROOT / "src" / "tasks" / file.name, file)
    before = suite_fingerprint(files)
    assert suite_fingerprint(list(reversed(files))) == before
    files[1].write_text(files[1].read_text().replace("epochs=10", "epochs=11"))
    after = suite_fingerprint(files)
    assert (
        after["suite"] != before["suite"]
        and after["tasks"]["esc50_task.py"] == before["tasks"]["esc50_task.py"]
    )
    assert after["tasks"]["gtzan_task.py"] != before["tasks"]["gtzan_task.py"]


def test_the_suite_fingerprint_of_configs_ignores_the_encoder_and_paths():
    path = ROOT / "src" / "tasks" / "esc50_task.py"
    a, b = (
        load_task_config(path, encoder=None),
        load_task_config(path, encoder=object(), env_root="/elsewhere"),
    )
    assert suite_fingerprint([a]) == suite_fingerprint([b])
    b.epochs += 1
    assert suite_fingerprint([a]) != suite_fingerprint([b])
