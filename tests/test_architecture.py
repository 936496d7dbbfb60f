"""The import graph of xares, read from the source (ast, nothing imported): no import loop, and no stage
module importing the report. Every import counts, module-level or inside a function (a lazy import hides
a loop; it does not remove it), and so do imports under TYPE_CHECKING."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# The modules that compute what the report shows: none of them may know how it is shown.
STAGES = ("acquire", "data", "encode", "store", "probes", "metrics", "stats", "task", "encoder", "encoders")
STAGES += ("scheduler",)
REPORT = ("report", "compare", "html_report", "plots")


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Every xares module -> the xares modules it imports (`from pkg import sub` counts as pkg.sub)."""
    files = {module_name(p, src): p for p in sorted((src / "xares").rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from ..a import b
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in files else base)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def layers(graph: dict[str, set[str]]) -> dict[str, int]:
    """Floor of each module: 0 imports no xares module, n imports one on floor n-1 at most. A module in a
    loop never gets a floor."""
    floor: dict[str, int] = {}
    while True:
        ready = [m for m, ts in graph.items() if m not in floor and ts <= floor.keys()]
        if not ready:
            return floor
        floor.update({m: 1 + max((floor[t] for t in graph[m]), default=-1) for m in ready})


def drawing(graph: dict[str, set[str]]) -> str:
    floor = layers(graph)
    lines = [
        f"floor {f}: {', '.join(sorted(m for m in floor if floor[m] == f))}"
        for f in sorted(set(floor.values()))
    ]
    if looped := sorted(graph.keys() - floor.keys()):
        lines.append(f"in or above a loop: {', '.join(looped)}")
    return "\n".join(lines)


def is_under(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == f"xares.{r}" or module.startswith(f"xares.{r}.") for r in roots)


def test_the_reader_sees_lazy_relative_and_submodule_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "xares"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from xares.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("from .b import g\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import xares.a\n"
    )
    graph = import_graph(tmp_path)
    assert graph == {
        "xares": set(),
        "xares.a": {"xares.sub.b"},
        "xares.sub": {"xares.sub.b"},
        "xares.sub.b": {"xares.a"},
    }
    assert layers(graph) == {"xares": 0}
    assert "in or above a loop: xares.a, xares.sub, xares.sub.b" in drawing(graph)


def test_no_import_loop() -> None:
    graph = import_graph()
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import loop {' -> '.join(exc.args[1])}\n{drawing(graph)}")


def test_no_stage_imports_the_report() -> None:
    graph = import_graph()
    bad = sorted(
        f"{m} -> {t}" for m, ts in graph.items() if is_under(m, STAGES) for t in ts if is_under(t, REPORT)
    )
    assert not bad, "a stage imports the report:\n" + "\n".join(bad) + "\n" + drawing(graph)


def private_imports(src: Path = SRC) -> list[str]:
    """`from xares.x import _name`: a module leaning on another's private name, which that module may
    change at will. What one module lends another is public (no underscore) and says so."""
    found = []
    for path in sorted((src / "xares").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("xares")):
                found += [
                    f"{module_name(path, src)}: from {'.' * node.level}{node.module or ''} import {a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    return found


def test_private_imports_are_seen(tmp_path: Path) -> None:
    (tmp_path / "xares").mkdir()
    (tmp_path / "xares" / "a.py").write_text("from xares.b import _hidden, shown\nfrom .b import _other\n")
    (tmp_path / "xares" / "b.py").write_text("from xares.version import __version__\n")
    assert private_imports(tmp_path) == [
        "xares.a: from xares.b import _hidden",
        "xares.a: from .b import _other",
    ]


def test_no_module_imports_another_modules_private_name() -> None:
    assert not private_imports(), "\n".join(private_imports())


if __name__ == "__main__":  # python tests/test_architecture.py > graph.txt: the graph, for a note
    graph = import_graph()
    for name in sorted(graph):
        print(f"{name} -> {', '.join(sorted(graph[name])) or '-'}")
    print(f"\n{len(graph)} modules, {sum(map(len, graph.values()))} imports\n{drawing(graph)}")
