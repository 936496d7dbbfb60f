"""The report, on top of everything else: results.json (results), the leaderboard, the text views
(views: table, markdown, CSV), the HTML report (html), plots and the paired comparison (compare).
Nothing below imports it; the run imports it last, to save and show what the stages computed."""

# ruff: noqa: F401  (re-exports: the names of the report, from the module that holds each)
from xares.protocols import PROTOCOLS
from xares.report.leaderboard import Cell, Leaderboard, Row, build_leaderboard, encoder_labels, task_label
from xares.report.results import (
    AVERAGE_KEYS,
    AVERAGE_LABELS,
    PROBES,
    SCHEMA_VERSION,
    add_statistics,
    build_results,
    load_results,
    save_results,
    upgrade_v1,
    validate_results,
    weighted_average,
)
from xares.report.views import (
    CSV_COLUMNS,
    leaderboard_markdown,
    leaderboard_table,
    print_report,
    print_results,
    print_wide,
    render,
    results_csv,
    results_table,
)
