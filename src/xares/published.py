"""The published X-ARES scores as results documents, and the fingerprint of a task suite.

The upstream README's MLP and kNN tables (dasheng, wav2vec2, whisper, data2vec) ship as data
(xares/published_scores/*.json, made by tests/facts/make_published_scores.py), so a new encoder is
put beside them with the same tools as any run: `published:NAME` is read wherever a results file
is (`xares report published:dasheng`, `xares compare results.json published:whisper`).

A published document is a results.json (schema 2) without per-clip data: it has no intervals and
no paired test, and each task says which split it was published on and by which X-ARES version.
Its averages are recomputed from the table (the README's own averages are kept beside them, under
run.published_averages: the README's MLP averages do not reproduce from its table).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from xares.errors import ArtifactError

PREFIX = "published:"
TABLES = "readme-2025-09-02.json"
SCHEMA_VERSION = 2


def _tables() -> dict[str, Any]:
    return json.loads(resources.files("xares").joinpath("published_scores", TABLES).read_text("utf-8"))


def published_models() -> list[str]:
    return list(_tables()["models"])


def is_published(reference: str | Path) -> bool:
    return str(reference).startswith(PREFIX)


def published_document(reference: str) -> dict[str, Any]:
    """The results document of `published:NAME`, before statistics (the report's loader adds them).

    Raises ArtifactError naming the models there are when NAME is not one of them.
    """
    name = reference.removeprefix(PREFIX)
    tables = _tables()
    if name not in tables["models"]:
        raise ArtifactError(
            f"{reference}: no published scores for {name!r}; the published models are "
            f"{', '.join(PREFIX + m for m in tables['models'])}."
        )
    column = tables["models"].index(name)
    tasks = [_task(row, column, tables["table_date"]) for row in tables["tasks"]]
    return {
        "schema_version": SCHEMA_VERSION,
        "xares_version": "published",
        "created": tables["table_date"],
        "encoder": {
            "name": f"{name} (published)",
            "fingerprint": f"{PREFIX}{name}@{tables['table_date']}",
            "source": tables["source"],
            "efficiency": {},
        },
        "run": {
            "protocol": "published",
            "seeds": 1,
            "published": True,
            "note": tables["note"],
            "published_averages": {k: v[column] for k, v in tables["readme_averages"].items()},
        },
        "tasks": tasks,
        "averages": {},
    }


def _task(row: dict[str, Any], column: int, table_date: str) -> dict[str, Any]:
    published = {"split": row["split"], "xares_version": row["xares_version"], "table_date": table_date}
    if "mlp_before_0_1_3" in row:
        published["mlp_score_before_0_1_3"] = row["mlp_before_0_1_3"][column]
    return {
        "name": row["name"],
        "formal_name": row["formal_name"],
        "domain": row["domain"],
        "private": row["private"],
        "metric": row["metric"],
        "higher_is_better": True,  # every published metric is (WER_inv is 1 - WER)
        "eval_weight": row["eval_weight"],
        "mlp_score": row["mlp"][column],
        "knn_score": row["knn"][column] if row["knn"] else None,
        "metrics": {},
        "num_test_clips": None,
        "status": "ok",
        "error": None,
        "seed": 42,
        "seeds": [42],
        "protocol": "published",
        "probe": {},
        "selection": "published",
        "selection_on_test": None,
        "per_clip": None,
        "encode": {},
        "published": published,
    }


def suite_fingerprint(task_files_or_configs: Iterable[str | Path | Any]) -> dict[str, Any]:
    """Fingerprints of the task files (or TaskConfigs) a run used, and one of the whole suite.

    Two results files made on the same suite have the same `suite` value; `tasks` says which task
    changed when they differ. A file is hashed by its bytes; a TaskConfig by its fields (callables by
    their qualified name, the encoder and the local paths left out, as they are not the task).
    """
    tasks: dict[str, str] = {}
    for item in task_files_or_configs:
        if isinstance(item, (str, Path)):
            path = Path(item)
            try:
                tasks[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            except OSError as exc:
                raise ArtifactError(f"{path}: cannot read the task file to fingerprint it ({exc}).") from exc
        elif dataclasses.is_dataclass(item):
            tasks[item.name] = hashlib.sha256(_config_text(item).encode()).hexdigest()[:16]
        else:
            raise TypeError(f"suite_fingerprint takes task files or TaskConfigs, not {type(item).__name__}")
    whole = hashlib.sha256(json.dumps(sorted(tasks.items())).encode()).hexdigest()[:16]
    return {"suite": whole, "tasks": dict(sorted(tasks.items()))}


_NOT_THE_TASK = {"encoder", "env_root", "force_download", "force_encode", "force_mlp", "force_knn"}


def _config_text(config: Any) -> str:
    def value(v: Any) -> Any:
        if callable(v):
            return f"{getattr(v, '__module__', '')}.{getattr(v, '__qualname__', repr(v))}"
        return v

    fields = {f.name: value(getattr(config, f.name)) for f in dataclasses.fields(config)}
    return json.dumps(
        {k: v for k, v in fields.items() if k not in _NOT_THE_TASK}, sort_keys=True, default=str
    )
