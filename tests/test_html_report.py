"""The HTML report is one self-contained file: it opens offline, and a headless browser draws it."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_report import document

from xares.html_report import html_report
from xares.report import load_results

FIXTURE = Path(__file__).parent / "fixtures" / "results_v1.json"


def two_encoders() -> list[dict]:
    return [
        document("Strong", "a" * 64, (0.85, 0.6), seed=1),
        document("Weak", "b" * 64, (0.55, 0.6), seed=1),
    ]


def test_the_report_is_self_contained():
    text = html_report(two_encoders(), resamples=200)
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", text)  # nothing to fetch
    assert "<script" not in text and "@import" not in text and "url(" not in text
    assert text.count("data:image/png;base64,") >= 1 + 2 * 3  # scores, and per task confusion + per class
    for expected in (
        "MLP results",
        "Paired comparison",
        "Strong",
        "Weak",
        "†",
        "Weighted Average (all tasks)",
    ):
        assert expected in text


def test_old_results_and_text_that_looks_like_html_render_safely():
    results = load_results(FIXTURE)
    results["tasks"][0]["formal_name"] = "<b>Keywords</b> & more"
    text = html_report([results], resamples=0, plots=False)
    assert "&lt;b&gt;Keywords&lt;/b&gt; &amp; more" in text and "<b>Keywords</b>" not in text
    assert "no audio shard found" in text  # the failed task says why


def find_chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)


@pytest.mark.skipif(
    find_chromium() is None, reason="chromium is not installed (.ci/chromium-setup.sh installs it)"
)
def test_headless_chromium_draws_the_report(tmp_path):
    from PIL import Image

    page = tmp_path / "report.html"
    page.write_text(html_report(two_encoders(), resamples=200), encoding="utf-8")
    screenshot = tmp_path / "shot.png"
    command = [
        find_chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={screenshot}",
        "--window-size=1200,1600",
        page.resolve().as_uri(),
    ]
    outcome = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert screenshot.is_file(), f"no screenshot (exit {outcome.returncode}): {outcome.stderr[-2000:]}"
    pixels = np.asarray(Image.open(screenshot).convert("RGB"), dtype=np.int16)
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    dark = np.mean(pixels.sum(axis=2) < 300)  # text and bars
    assert colours > 50 and 0.005 < dark < 0.5, f"the page looks blank ({colours} colours, {dark:.3%} dark)"
