"""Write src/xares/published_scores/readme-2025-09-02.json: the published MLP and kNN tables as data.

Read from the reference of the upstream README (../shared/reference/upstream-format.md, section h,
"Tables at HEAD (2025-09-02)") and the task facts (upstream-tasks.json, for names, domains,
metrics and eval_weights). Run it again when the reference changes:

    python tests/facts/make_published_scores.py /work/shared/reference
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "src" / "xares" / "published_scores" / "readme-2025-09-02.json"
MODELS = ("dasheng", "wav2vec2", "whisper", "data2vec")
PRIVATE_ROWS = {  # README row label -> task name; the private tasks have no formal name upstream
    "Key scratching car": "key_scratching",
    "Finger snap sound": "finger_snap",
    "Inside/outside car": "inside_outside_car",
    "Live Env": "liveenv",
    "Subway broadcast": "subway_broadcast",
}


def _table(text: str, title: str) -> dict[str, list[str]]:
    """Rows of the markdown table after the bold `title`, label -> the four cells."""
    block = text.split(f"**{title}**", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] not in ("Task", "---"):
            rows[cells[0]] = cells[1:]
    return rows


def _number(cell: str) -> tuple[float, float | None]:
    """'**0.893** (0.866 v0.1.3)' -> (0.893, 0.866): the value, and the v0.1.3 value if any."""
    values = re.findall(r"\d+\.\d+", cell.replace("v0.1.3", ""))
    return float(values[0]), (float(values[1]) if len(values) > 1 else None)


def build(reference: Path) -> dict:
    text = (reference / "upstream-format.md").read_text()
    section = text.split("### Tables at HEAD (2025-09-02)", 1)[1].split("### Consistency", 1)[0]
    facts = json.loads((reference / "upstream-tasks.json").read_text())
    by_formal = {t["formal_name"]: t for t in facts if t["formal_name"]}
    by_name = {t["name"]: t for t in facts}
    mlp, knn = _table(section, "MLP results"), _table(section, "kNN results")
    tasks, averages = [], {}
    for label, cells in mlp.items():
        if label.startswith("Weighted Averag"):
            scope = "public" if "public" in label else "all"
            averages[f"mlp_{scope}"] = [_number(c)[0] for c in cells]
            averages[f"knn_{scope}"] = [
                _number(c)[0]
                for c in next(v for k, v in knn.items() if k.startswith(label[:16]) and scope in k)
            ]
            continue
        row = label.removesuffix(" (private)")
        task = by_name[PRIVATE_ROWS[row]] if row in PRIVATE_ROWS else by_formal[row]
        values = [_number(c) for c in cells]
        v013 = [v[1] for v in values]
        entry = {
            "name": task["name"],
            "formal_name": task["formal_name"] if row not in PRIVATE_ROWS else row,
            "domain": task["domain"],
            "private": task["private"],
            "metric": task["metric"],
            "eval_weight": task["eval_weight"],
            "split": "mini" if task["use_mini_dataset"] else "full",
            "xares_version": "0.1.3" if any(v is not None for v in v013) else "before 0.1.3",
            "mlp": [v[1] if v[1] is not None else v[0] for v in values],
            "knn": [_number(c)[0] for c in knn[label]] if label in knn else None,
        }
        if any(v is not None for v in v013):
            entry["mlp_before_0_1_3"] = [v[0] for v in values]
        tasks.append(entry)
    return {
        "source": "X-ARES README tables at upstream HEAD 161f0efaa6af26d78dbcff5403f7d6c317584d86 "
        "(2025-09-02, package 0.1.3), through ../shared/reference/upstream-format.md section h",
        "made_by": "tests/facts/make_published_scores.py",
        "table_date": "2025-09-02",
        "models": list(MODELS),
        "note": "Every published row was run on the full data (the mini runs of February 2025 were re-run "
        "on full data before these tables). LibriSpeech-100h: the v0.1.3 number (batched generate, "
        "lower-cased WER), which the current X-ARES protocol runs; the earlier number is kept beside it.",
        "readme_averages": averages,
        "tasks": tasks,
    }


if __name__ == "__main__":
    document = build(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference"))
    OUT.write_text(json.dumps(document, indent=1) + "\n")
    print(f"{OUT}: {len(document['tasks'])} tasks")
