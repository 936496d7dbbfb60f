"""xares compare: per task A - B with a paired bootstrap test over the test clips both results hold."""

import json

import numpy as np
import pytest
from test_report import document

from xares import cli, compare, report, stats


def test_a_clear_difference_is_significant_and_a_tie_is_not():
    strong = document("Strong", "a" * 64, (0.85, 0.6), seed=1)
    weak = document("Weak", "b" * 64, (0.55, 0.6), seed=1)
    rows = {(r.name, r.probe): r for r in compare.compare_results(strong, weak, resamples=400)}
    clear, tie = rows[("task0", "mlp")], rows[("task1", "mlp")]
    assert clear.test.difference == pytest.approx(clear.reported_a - clear.reported_b)
    assert clear.significant and clear.winner == "A" and clear.test.interval[0] > 0
    assert clear.test.shared_clips == 200
    assert tie.test.difference == 0 and not tie.significant and tie.winner is None
    average = rows[("average_public", "mlp")]
    assert average.test is not None and average.significant and average.winner == "A"
    regress = rows[("regress", "mlp")]
    assert regress.test is None  # no per-clip data: the difference only


def test_lower_is_better_flips_the_winner():
    row = compare.Comparison("t", "T", "mlp", "EER", False, 0.1, 0.3, None, 0.05)
    row.test = compare.stats.PairedTest(0.1, 0.3, -0.2, [-0.3, -0.1], 0.001, 10, 10, 10)
    assert row.significant and row.winner == "A"


def test_the_command_prints_a_table_or_markdown_and_names_caveats(tmp_path, capsys):
    strong = document("Strong", "a" * 64, (0.85, 0.6), seed=1)
    weak = document("Weak", "b" * 64, (0.55, 0.6), seed=1)
    weak["run"]["seeds"] = 3
    weak["tasks"] = [t for t in weak["tasks"] if t["name"] != "secret"]
    (tmp_path / "a.json").write_text(json.dumps(strong))
    (tmp_path / "b.json").write_text(json.dumps(weak))
    assert (
        cli.main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--bootstrap", "200"]) == 0
    )
    out = capsys.readouterr().out
    assert "Strong (A) vs Weak (B)" in out and "* Strong" in out  # "* Strong better", maybe wrapped
    assert "different seeds: 1 vs 3" in out and "tasks in one result only: ['secret']" in out
    args = ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--format", "markdown"]
    assert cli.main([*args, "-o", str(tmp_path / "c.md")]) == 0
    markdown = (tmp_path / "c.md").read_text()
    assert "| Task | A | B | A − B | 95% interval | p | significant |" in markdown
    assert "| Task1 | 0.610 | 0.610 | +0.000 | [+0.000, +0.000] | 1.000 |  |" in markdown
    (tmp_path / "bad.json").write_text("{}")
    assert cli.main(["compare", str(tmp_path / "a.json"), str(tmp_path / "bad.json")]) == 2


def typed_tasks(signal: float, seed: int) -> list[dict]:
    """A frame, a retrieval and an ASR task whose per-clip data come from xares.stats' record builders,
    scored by an encoder as informative as `signal` (0 to 1)."""
    rng = np.random.default_rng(seed)
    keys = [f"c{i}" for i in range(100)]
    targets = [(rng.random((10, 3)) < 0.2).astype(np.float32) for _ in keys]
    outputs = [3 * signal * (2 * t - 1) + rng.standard_normal(t.shape) for t in targets]
    text_to_clip = np.repeat(np.arange(100), 5)
    similarity = rng.standard_normal((500, 100))
    similarity[np.arange(500), text_to_clip] += 4 * signal
    references = [" ".join(rng.choice(["cat", "dog", "sun"], 5)) for _ in keys]
    hypotheses = [" ".join(w if rng.random() < signal else "x" for w in r.split()) for r in references]
    records = {
        "scenes": (
            "segmentf1_macro",
            stats.frame_record(
                keys,
                outputs,
                targets,
                metric="segmentf1_macro",
                hop_size_in_ms=100.0,
                segment_length_in_s=0.2,
            ),
        ),
        "captions": ("recallatk_r1", stats.retrieval_record(keys, similarity, text_to_clip)),
        "asr": ("WER_inv", stats.asr_record(keys, hypotheses, references)),
    }
    tasks = []
    for name, (metric, record) in records.items():
        clips = stats.merge_records([[record]], [42], ["test"])
        secondary = [n for n in record.scores if n != "mlp_score"]
        tasks.append(
            {
                "name": name,
                "formal_name": name.title(),
                "private": False,
                "metric": metric,
                "higher_is_better": True,
                "eval_weight": 100,
                "mlp_score": stats.observed(clips, "mlp_score")[0],
                "knn_score": None,
                "num_test_clips": 100,
                "status": "ok",
                "metrics": {n: stats.observed(clips, n)[0] for n in secondary},
                "per_clip": clips.to_json(),
            }
        )
    return tasks


def test_frame_retrieval_and_asr_tasks_get_intervals_and_significance():
    encoder = {"output_dim": 8, "hop_size_in_ms": 10.0}
    run = {"protocol": "published", "seeds": 1}
    strong = report.build_results(
        {**encoder, "name": "Strong", "fingerprint": "a" * 64}, typed_tasks(0.8, 1), run, resamples=300
    )
    weak = report.build_results(
        {**encoder, "name": "Weak", "fingerprint": "b" * 64}, typed_tasks(0.2, 2), run, resamples=300
    )
    for task in strong["tasks"] + weak["tasks"]:
        assert len(task["scores"]) > 1
        for name, score in task["scores"].items():  # the headline and every secondary score
            assert score["per_clip"] and score["ci95"][0] <= score["value"] <= score["ci95"][1], name
    assert strong["averages"]["mlp_public"]["ci95"] is not None  # the weighted average is bootstrapped
    rows = {(r.name, r.probe): r for r in compare.compare_results(strong, weak, resamples=300)}
    for name in ("scenes", "captions", "asr", "average_public"):
        row = rows[(name, "mlp")]
        assert row.test is not None and row.test.p_value < 0.05 and row.winner == "A", name
    markdown = report.leaderboard_markdown(report.build_leaderboard([strong, weak], resamples=300))
    for label in ("Scenes", "Captions", "Asr"):
        (line,) = [x for x in markdown.splitlines() if x.startswith(f"| {label} |")]
        strong_cell, weak_cell = line.split(" | ")[1:3]
        assert strong_cell.startswith("**") and "†" in strong_cell and "[" in strong_cell, line
        assert "[" in weak_cell
