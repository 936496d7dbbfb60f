"""End-to-end: the real command line on small generated data."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from toy_data import REFUSES_LONG_INPUT, make_task_file

from xares import cli, run
from xares.report import load_results

ROOT = Path(__file__).resolve().parents[1]
MEL = str(ROOT / "example/mel/mel_encoder.py")


def run_cli(args, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "xares.run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_public_command_line_runs_reuses_caches_and_is_deterministic(tmp_path):
    task = make_task_file(tmp_path)
    first = run_cli([MEL, str(task)], tmp_path)
    assert first.returncode == 0, first.stderr + first.stdout
    assert "Weighted Average (public tasks)" in first.stdout
    results = load_results(tmp_path / "results/MelEncoder/results.json")
    (toy,) = results["tasks"]
    assert toy["status"] == "ok" and toy["mlp_score"] > 0.6 and toy["knn_score"] > 0.6
    assert toy["num_test_clips"] == 18 and toy["eval_weight"] == 18 and not toy["cached"]
    assert set(toy["timings"]) >= {"acquire", "encode", "probe"}
    assert results["encoder"]["fingerprint"] and results["schema_version"] == 2

    second = run_cli([MEL, str(task), "--results", "again.json"], tmp_path)
    assert second.returncode == 0, second.stderr
    again = load_results(tmp_path / "again.json")["tasks"][0]
    assert again["cached"] and (again["mlp_score"], again["knn_score"]) == (
        toy["mlp_score"],
        toy["knn_score"],
    )

    third = run_cli([MEL, str(task), "--overwrite", "all", "--results", "fresh.json"], tmp_path)
    fresh = load_results(tmp_path / "fresh.json")["tasks"][0]
    assert third.returncode == 0 and not fresh["cached"]
    assert (fresh["mlp_score"], fresh["knn_score"]) == (toy["mlp_score"], toy["knn_score"])


def test_stages_can_run_one_at_a_time(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    task = str(make_task_file(tmp_path))
    assert run.main([MEL, task, "--to-stage", "0"]) == 0
    assert (tmp_path / "env/toy/.audio_tar_ready").is_file()
    assert not (tmp_path / "env/toy/embeddings").exists()
    assert run.main([MEL, task, "--from-stage", "1", "--to-stage", "1"]) == 0
    assert list((tmp_path / "env/toy/embeddings").glob("MelEncoder-*/test/manifest.json"))
    assert run.main([MEL, task, "--from-stage", "2", "--env-root", "env", "--results", "r.json"]) == 0
    assert load_results(tmp_path / "r.json")["tasks"][0]["status"] == "ok"


def failing_suite(tmp_path):
    tasks = [make_task_file(tmp_path, "good")]
    tasks.append(make_task_file(tmp_path, "missing", extra="private=True,", generator="None"))
    tasks.append(make_task_file(tmp_path, "badaudio", generator="toy_data.write_toy_shards_with_bad_audio"))
    tasks.append(make_task_file(tmp_path, "badlabel", generator="toy_data.write_toy_shards_with_bad_label"))
    tasks.append(make_task_file(tmp_path, "longclip", generator="toy_data.write_toy_shards_with_long_clip"))
    encoder = tmp_path / "short_only.py"
    encoder.write_text(REFUSES_LONG_INPUT)
    return encoder, tasks


@pytest.mark.parametrize("max_jobs", ["1", "2"])
def test_a_failing_task_is_named_and_the_others_still_run(tmp_path, max_jobs):
    encoder, tasks = failing_suite(tmp_path)
    outcome = run_cli(
        [str(encoder), *map(str, tasks), "--max-jobs", max_jobs, "--results", "r.json"], tmp_path
    )
    assert outcome.returncode == 1, outcome.stdout + outcome.stderr
    results = {t["name"]: t for t in load_results(tmp_path / "r.json")["tasks"]}
    assert results["good"]["status"] == "ok" and results["good"]["mlp_score"] is not None
    assert results["missing"]["status"] == "failed"
    assert (
        "missing_task.py" in results["missing"]["error"]
        and "no audio shard found" in results["missing"]["error"]
    )
    assert (
        "'broken_clip'" in results["badaudio"]["error"] and "test-9000000.tar" in results["badaudio"]["error"]
    )
    assert (
        "'purple_clip'" in results["badlabel"]["error"] and "task 'badlabel'" in results["badlabel"]["error"]
    )
    assert (
        "long_clip" in results["longclip"]["error"]
        and "input longer than 6 s" in results["longclip"]["error"]
    )
    assert "4 of 5 tasks failed" in " ".join(outcome.stdout.split())


def test_an_encoder_that_breaks_the_contract_stops_before_encoding(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(REFUSES_LONG_INPUT.replace("self.output_dim = 4", "self.output_dim = 5"))
    outcome = run_cli([str(bad), str(make_task_file(tmp_path))], tmp_path)
    assert outcome.returncode == 2
    assert "output_dim" in outcome.stdout and not (tmp_path / "env/toy/embeddings").exists()


def test_xares_check_and_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", MEL]) == 0
    assert "keeps the X-ARES encoder contract" in capsys.readouterr().out
    assert cli.main(["run", MEL, str(make_task_file(tmp_path)), "--results", "r.json"]) == 0
    capsys.readouterr()
    assert cli.main(["report", "r.json"]) == 0
    assert "Toy Tones" in capsys.readouterr().out
    Path("broken.json").write_text(json.dumps({"schema_version": 99}))
    assert cli.main(["report", "broken.json"]) == 2


def test_help_explains_every_option():
    outcome = subprocess.run([sys.executable, "-m", "xares.run", "--help"], capture_output=True, text=True)
    for option in ("--max-jobs", "--from-stage", "--to-stage", "--env-root", "--results", "--overwrite"):
        assert option in outcome.stdout


def test_mini_mode_uses_the_mini_shard_selection(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mini = '{"train": "train-000000.tar", "valid": "valid-000000.tar", "test": "test-000000.tar"},'
    task = str(make_task_file(tmp_path, extra=f"mini_audio_tar_name_of_split={mini}"))
    assert run.main([MEL, task, "--mini", "--results", "mini.json"]) == 0
    assert run.main([MEL, task, "--results", "full.json"]) == 0
    mini_result = load_results(tmp_path / "mini.json")["tasks"][0]
    full_result = load_results(tmp_path / "full.json")["tasks"][0]
    assert (mini_result["num_test_clips"], full_result["num_test_clips"]) == (9, 18)
