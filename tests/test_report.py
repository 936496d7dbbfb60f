"""results.json schema 2: built with intervals, validated on load, version 1 still read; the views
(table, markdown leaderboard, CSV) and the progress display; and a real run through the command line."""

import copy
import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from toy_data import make_task_file

from xares import cli, progress, report, stats
from xares.errors import ArtifactError
from xares.report.compare import compare_files

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "results_v1.json"
MEL = str(ROOT / "example/mel/mel_encoder.py")
RANDOM = str(ROOT / "example/random/random_encoder.py")


def per_clip(accuracy: float, size: int = 200, seed: int = 0, keys: str = "k") -> tuple[float, dict]:
    """Per-clip data of a classifier that is right on about `accuracy` of `size` clips."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size)
    right = rng.random(size) < accuracy
    predictions = np.where(right, labels, (labels + 1) % 3)
    record = stats.ClipRecord(
        [f"{keys}{i}" for i in range(size)],
        {"mlp_score": ("accuracy", {"predictions": predictions, "targets": labels})},
        class_names=["a", "b", "c"],
    )
    return float(right.mean()), stats.merge_records([[record]], [42], ["test"]).to_json()


def task(name: str, accuracy: float | None, *, weight: int = 200, private=False, metric="accuracy", seed=0):
    value, clips = per_clip(accuracy, weight, seed) if accuracy is not None else (None, None)
    return {
        "name": name,
        "formal_name": name.title(),
        "private": private,
        "metric": metric,
        "higher_is_better": metric != "MSE",
        "eval_weight": weight,
        "mlp_score": value if metric != "MSE" else 0.3,
        "knn_score": None,
        "num_test_clips": weight,
        "status": "ok",
        "metrics": {},
        "per_clip": clips if metric != "MSE" else None,
        "encode": {"audio_seconds": 100.0, "seconds": 4.0, "device": "cpu", "peak_memory_mb": 300.0},
    }


def document(name="EncA", fingerprint="a" * 64, accuracies=(0.8, 0.6), seed=0):
    tasks = [task(f"task{i}", a, seed=seed + i) for i, a in enumerate(accuracies)]
    tasks.append(task("regress", None, metric="MSE"))
    tasks.append(task("secret", 0.9, private=True, seed=seed + 9))
    encoder = {"name": name, "fingerprint": fingerprint, "output_dim": 8, "hop_size_in_ms": 10.0}
    return report.build_results(encoder, tasks, {"protocol": "published", "seeds": 1}, resamples=300)


def test_results_carry_intervals_joint_averages_and_efficiency():
    results = document()
    report.validate_results(results)
    assert results["schema_version"] == 2 and results["run"]["bootstrap"]["resamples"] == 300
    first = next(t for t in results["tasks"] if t["name"] == "task0")
    low, high = first["scores"]["mlp_score"]["ci95"]
    assert low < first["mlp_score"] < high and high - low < 0.15
    assert first["per_class"]["mlp"]["names"] == ["a", "b", "c"] and "confusion" in first["per_class"]["mlp"]
    average = results["averages"]["mlp_public"]
    assert average["tasks"] == ["task0", "task1"]  # MSE and the private task are left out
    low, high = average["ci95"]
    assert low < average["value"] < high
    # the joint interval of a mean of two tasks is narrower than either task's own
    assert high - low < min(
        np.diff(t["scores"]["mlp_score"]["ci95"])[0]
        for t in results["tasks"]
        if t["name"] in ("task0", "task1")
    )
    assert results["averages"]["mlp_all"]["tasks"] == ["secret", "task0", "task1"]
    efficiency = results["encoder"]["efficiency"]
    assert efficiency["real_time_factor"] == 25.0 and efficiency["peak_memory_mb"] == 300.0


def test_an_average_over_a_task_without_per_clip_data_has_no_interval():
    results = document()
    broken = copy.deepcopy(results)
    for t in broken["tasks"]:
        t["per_clip"] = None if t["name"] == "task1" else t["per_clip"]
    report.add_statistics(broken, resamples=100)
    assert broken["averages"]["mlp_public"]["ci95"] is None
    assert next(t for t in broken["tasks"] if t["name"] == "task1")["scores"]["mlp_score"]["ci95"] is None


def test_version_1_results_keep_loading():
    original = json.loads(FIXTURE.read_text())
    assert original["schema_version"] == 1
    results = report.load_results(FIXTURE)
    assert results["schema_version"] == 2 and results["upgraded_from"] == 1
    assert results["run"]["protocol"] == "published"
    for key in report.AVERAGE_KEYS:
        assert results["averages"][key]["value"] == pytest.approx(original["averages"][key]["value"])
        assert results["averages"][key]["ci95"] is None
    keywords = next(t for t in results["tasks"] if t["name"] == "offline_keywords")
    assert keywords["scores"]["mlp_score"] == {
        "value": 0.4389,
        "std": None,
        "per_seed": [0.4389],
        "ci95": None,
        "per_clip": False,
    }
    console = Console(file=io.StringIO(), width=200)
    report.print_report([results], console, resamples=0)
    text = console.file.getvalue()
    assert "Offline Keywords" in text and "failed" in text and "Weighted Average (public tasks)" in text
    assert "Private Thing (private)" in report.render([results], "markdown", resamples=0)
    assert "offline_sound_classes" in report.render([results], "csv")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d.update(schema_version=99), "schema_version 99"),
        (lambda d: d.pop("averages"), "'averages' must be a JSON object"),
        (lambda d: d["tasks"][0].update(status="great"), "status 'great'"),
        (lambda d: d["tasks"][0].pop("eval_weight"), "lacks ['eval_weight']"),
        (lambda d: d["tasks"][0]["scores"]["mlp_score"].update(ci95=[0.9, 0.1]), "ci95"),
        (lambda d: d["run"].update(protocol="sloppy"), "run.protocol 'sloppy'"),
        (lambda d: d["tasks"][0].update(mlp_score="high"), "mlp_score must be a number"),
    ],
)
def test_damaged_results_are_refused_with_the_field_named(tmp_path, damage, message):
    results = json.loads(json.dumps(document()))
    damage(results)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(results))
    with pytest.raises(ArtifactError, match=message.replace("[", r"\[").replace("(", r"\(")):
        report.load_results(path)


def test_markdown_leaderboard_has_the_upstream_shape():
    strong = document("Strong", "a" * 64, (0.85, 0.6), seed=1)
    weak = document("Weak", "b" * 64, (0.55, 0.6), seed=1)
    text = report.render([strong, weak], "markdown", resamples=300)
    lines = text.splitlines()
    assert "**MLP results**" in lines and "| Task | Strong | Weak |" in lines
    task0 = next(line for line in lines if line.startswith("| Task0 |"))
    assert "**0.8" in task0.split("|")[2] and "†" in task0.split("|")[2]  # best, and significantly
    task1 = next(line for line in lines if line.startswith("| Task1 |"))
    assert "†" not in task1  # same accuracy: no significant winner
    rows = [line.split("|")[1].strip() for line in lines if line.startswith("| ") and "---" not in line]
    assert rows[-2:] == ["Weighted Average (public tasks)", "Weighted Average (all tasks)"]
    assert rows.index("Secret (private)") > rows.index("Task1")  # private tasks after the public ones
    assert "Regress" in rows  # lower-is-better tasks are listed, not averaged
    regress = next(line for line in lines if line.startswith("| Regress |"))
    assert regress.count("**0.300**") == 2  # a tie: both best


def test_csv_is_one_row_per_encoder_task_and_score():
    rows = list(csv.DictReader(io.StringIO(report.render([document("A"), document("B", "b" * 64)], "csv"))))
    assert tuple(rows[0]) == report.CSV_COLUMNS
    task0 = [r for r in rows if r["task"] == "task0" and r["score"] == "mlp_score"]
    assert [r["encoder"] for r in task0] == ["A", "B"]
    assert float(task0[0]["ci95_low"]) < float(task0[0]["value"]) < float(task0[0]["ci95_high"])
    averages = [r for r in rows if r["task"].startswith("average_")]
    assert len(averages) == 8 and {r["probe"] for r in averages} == {"mlp", "knn"}


def test_two_encoders_with_one_name_are_told_apart():
    assert report.encoder_labels([document("X", "a" * 64), document("X", "b" * 64)]) == [
        "X (aaaaaaaa)",
        "X (bbbbbbbb)",
    ]


def test_progress_lines_bars_and_quiet(capsys):
    with progress.progress_mode("lines"), progress.progress("encode toy/train", lambda: 3, "clips") as bar:
        bar.advance(3)
    assert "encode toy/train: 3 clips in" in capsys.readouterr().err
    counted = []
    with (
        progress.progress_mode("off"),
        progress.progress("quiet", lambda: counted.append(1) or 3, "clips") as bar,
    ):
        bar.advance(2)
    assert capsys.readouterr().err == "" and counted == []  # nothing shown, nothing counted
    with progress.progress_mode("bar"), progress.progress("bars", 4, "epochs") as bar:
        bar.advance(4)
    with pytest.raises(ValueError):
        progress.progress_mode("loud").__enter__()


@pytest.mark.slow
def test_two_encoders_through_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    kfold = 'k_fold_splits=[1, 2, 3], audio_tar_name_of_split={1: "train-*", 2: "valid-*", 3: "test-*"},'
    tasks = [str(make_task_file(tmp_path)), str(make_task_file(tmp_path, "toyk", extra=kfold))]
    assert cli.main(["run", MEL, *tasks, "--results", "mel.json", "--seeds", "2", "-q"]) == 0
    assert cli.main(["run", RANDOM, *tasks, "--results", "rnd.json", "--seeds", "2", "-q"]) == 0
    mel = report.load_results("mel.json")
    assert mel["run"]["protocol"] == "published" and mel["run"]["seeds"] == 2
    toy = next(t for t in mel["tasks"] if t["name"] == "toy")
    assert toy["seeds"] == [42, 43] and len(toy["seed_scores"]["mlp_score"]) == 2
    assert toy["probe"]["epochs"] == 5 and toy["selection"] == "validation split 'valid'"
    assert toy["scores"]["mlp_score"]["std"] is not None and toy["scores"]["mlp_score"]["ci95"]
    assert toy["scores"]["knn_score"]["std"] is None  # the kNN trains nothing
    assert toy["per_class"]["mlp"]["names"] == ["low", "mid", "high"]
    assert sum(map(sum, toy["per_class"]["knn"]["confusion"])) == toy["num_test_clips"]
    toyk = next(t for t in mel["tasks"] if t["name"] == "toyk")
    assert toyk["selection_on_test"] and len(stats.TestClips.from_json(toyk["per_clip"])) == 66
    efficiency = mel["encoder"]["efficiency"]
    assert efficiency["real_time_factor"] > 1 and efficiency["peak_memory_mb"] > 0 and efficiency["devices"]
    assert {"acquire", "encode", "probe"} <= set(toy["timings"])
    capsys.readouterr()

    assert cli.main(["report", "mel.json", "rnd.json", "--format", "markdown", "--bootstrap", "200"]) == 0
    markdown = capsys.readouterr().out
    assert "| Task | MelEncoder | RandomEncoder |" in markdown and "†" in markdown and "§" in markdown
    assert cli.main(["report", "mel.json", "rnd.json", "--format", "csv", "-o", "out/r.csv"]) == 0
    assert cli.main(["report", "mel.json", "--format", "html", "-o", "r.html", "--plots", "plots"]) == 0
    assert Path("out/r.csv").read_text().count("\n") > 8 and Path("r.html").stat().st_size > 10_000
    assert Path("plots/scores.png").is_file() and list(Path("plots").glob("melencoder__toy__confusion.png"))
    assert cli.main(["report", "mel.json"]) == 0
    assert "MelEncoder" in capsys.readouterr().out

    # the score cache is keyed by protocol and seeds: same settings reuse it, others do not
    assert cli.main(["run", MEL, tasks[0], "--results", "again.json", "--seeds", "2", "-q"]) == 0
    assert report.load_results("again.json")["tasks"][0]["cached"]
    assert cli.main(["run", MEL, tasks[0], "--results", "strict.json", "--protocol", "strict", "-q"]) == 0
    strict = report.load_results("strict.json")
    assert not strict["tasks"][0]["cached"] and strict["run"]["protocol"] == "strict"
    shutil.rmtree("env")


def test_published_and_xares_0_1_3_differ_only_in_knn(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    task_file = str(make_task_file(tmp_path))
    # (the tones are too easy for the mel encoder's kNN to care; the random encoder's neighbours do)
    assert cli.main(["run", RANDOM, task_file, "--results", "p.json", "-q", "--bootstrap", "0"]) == 0
    assert cli.main(["run", RANDOM, task_file, "--results", "x.json", "-q", "--protocol", "xares-0.1.3"]) == 0
    published, legacy = (report.load_results(p)["tasks"][0] for p in ("p.json", "x.json"))
    assert published["mlp_score"] == legacy["mlp_score"]
    assert published["knn_score"] != legacy["knn_score"]
    assert published["scores"]["mlp_score"]["ci95"] is None  # --bootstrap 0


def test_a_task_run_off_its_task_files_protocol_is_marked_in_every_view():
    deviation = "ASR decoder 'ctc' in place of the task file's 'qwen' (--asr-decoder)"
    tasks = [task("task0", 0.8, seed=1), task("task1", 0.6, seed=2)]
    tasks[0]["deviations"] = [deviation]
    encoder = {"name": "Off", "fingerprint": "c" * 64, "output_dim": 8, "hop_size_in_ms": 10.0}
    off = report.build_results(encoder, tasks, {"protocol": "published", "seeds": 1}, resamples=100)
    on = document("On", "d" * 64, (0.8, 0.6), seed=1)
    assert off["averages"]["mlp_public"]["not_published"] == ["task0"]
    assert "not_published" not in on["averages"]["mlp_public"]

    markdown = report.render([off, on], "markdown", resamples=100)
    assert any(line.startswith("| Task0 ‡ |") for line in markdown.splitlines())
    assert any(line.startswith("| Task1 |") for line in markdown.splitlines())
    assert "| Weighted Average (public tasks) ‡ |" in markdown and "‡ marks a task" in markdown
    rows = list(csv.DictReader(io.StringIO(report.render([off], "csv"))))
    assert {r["deviations"] for r in rows if r["task"] == "task0"} == {deviation}
    assert {r["deviations"] for r in rows if r["task"] == "task1"} == {""}
    assert "includes task0" in next(r for r in rows if r["task"] == "average_public")["deviations"]
    console = Console(record=True, width=200)
    report.print_report([off], console, resamples=0)
    assert "Task0 ‡" in console.export_text() and "Task1 ‡" not in console.export_text()
    assert "Task0 ‡" in report.render([off, on], "html", resamples=0)
    rows, labels, notes = compare_files([off, on], resamples=100)
    assert any(r.label == "Task0 ‡" for r in rows) and any("task0 is not the published" in n for n in notes)


def test_compare_names_the_task_files_that_differ_between_two_runs():
    a, b = document("A", "a" * 64), document("B", "b" * 64)
    a["run"]["suite"] = {"suite": "1", "tasks": {"task0.py": "x", "task1.py": "y"}}
    b["run"]["suite"] = {"suite": "2", "tasks": {"task0.py": "x", "task1.py": "z"}}
    _, _, notes = compare_files([a, b], resamples=0)
    assert "task files that differ between the two runs: ['task1.py']" in notes
