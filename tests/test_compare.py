"""xares compare: per task A - B with a paired bootstrap test over the test clips both results hold."""

import json

import pytest
from test_report import document

from xares import cli, compare


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
