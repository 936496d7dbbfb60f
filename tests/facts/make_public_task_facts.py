"""Write tests/facts/public_tasks.json, the facts test_public_task_facts.py holds every public task file to.

Made from the reference file of the public X-ARES task files at HEAD
(../shared/reference/upstream-tasks.json: one entry per task file, read from the upstream code):
every task there that is public (`private` false) and present at HEAD, with the fields a TaskConfig
carries. Run it again when the reference changes:

    python tests/facts/make_public_task_facts.py /work/shared/reference/upstream-tasks.json

The table is kept in the repository (not read from ../shared at test time) so CI needs no checkout
beside this one and a drift in either the reference or a task file shows up as a diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).with_name("public_tasks.json")
FIELDS = (
    "file",
    "config_function",
    "name",
    "formal_name",
    "domain",
    "zenodo_id",
    "task_type",
    "splits",
    "k_fold_splits",
    "audio_tar_patterns",
    "mini_audio_tar_patterns",
    "label_keys",
    "labels",
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
)


def public_task_facts(reference: list[dict]) -> list[dict]:
    """The public tasks present at HEAD, each reduced to FIELDS, in file order."""
    public = [t for t in reference if not t["private"] and not t["disabled"] and t["present_at_head"]]
    return sorted(({k: t[k] for k in FIELDS} for t in public), key=lambda t: t["file"])


def main(reference_path: str) -> None:
    facts = public_task_facts(json.loads(Path(reference_path).read_text()))
    document = {
        "made_by": "tests/facts/make_public_task_facts.py from ../shared/reference/upstream-tasks.json",
        "tasks": facts,
    }
    OUT.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(f"{OUT}: {len(facts)} public tasks")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/upstream-tasks.json")
