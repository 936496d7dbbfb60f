"""Nothing untrusted is unpickled, and no shell command is ever built from input."""

import ast
from pathlib import Path

import numpy as np
import pytest

from xares.errors import ArtifactError
from xares.store import SplitWriter, load_split

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "example").rglob("*.py")])


def calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def dotted(func: ast.expr) -> str:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_shell_and_no_pickle(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for call in calls(tree):
        name = dotted(call.func)
        keywords = {k.arg: k.value for k in call.keywords}
        assert name not in ("os.system", "os.popen", "pickle.load", "pickle.loads"), f"{path}:{call.lineno}"
        shell = keywords.get("shell")
        assert not (isinstance(shell, ast.Constant) and shell.value), f"shell=True at {path}:{call.lineno}"
        if name.endswith("torch.load") or name == "torch.load":
            weights_only = keywords.get("weights_only")
            assert isinstance(weights_only, ast.Constant) and weights_only.value is True, (
                f"{path}:{call.lineno}"
            )
        if name in ("np.load", "numpy.load"):
            allow = keywords.get("allow_pickle")
            assert allow is None or (isinstance(allow, ast.Constant) and allow.value is False), f"{path}"


def test_a_pickled_array_in_the_store_is_refused(tmp_path):
    key = {"k": 1}
    writer = SplitWriter(tmp_path / "s", key, dim=2)
    writer.add(np.zeros((2, 2), np.float32), {"key": "a"})
    writer.commit()
    np.save(tmp_path / "s" / "pooled.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ArtifactError, match="pooled.npy"):
        load_split(tmp_path / "s", key)
