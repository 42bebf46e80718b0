"""The package's import graph has no cycle, counting imports hidden inside functions too.

The graph is read from the source with ``ast`` (nothing is imported): an edge A -> B for every
``import``/``from ... import`` in A that names module B of the package (``from pkg import name``
counts ``pkg.name`` when that is a module).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tavaal_nb"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = name.split(".") if is_package else name.split(".")[:-1]
                    parent = parent[: len(parent) - (node.level - 1)]
                    base = ".".join(parent + ([node.module] if node.module else []))
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """The package's import graph, read once for the tests of this module (they only read it)."""
    return import_graph()


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_reader_sees_cycles_and_edges(graph):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    assert "tavaal_nb.loop" in graph["tavaal_nb.sweep.task"]  # an edge written as `from tavaal_nb.loop import ...`
    assert "tavaal_nb.data.datasets" in graph["tavaal_nb.config"]


def test_the_package_has_no_import_cycle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_layers_point_down(graph):
    # the configuration sits below the strategies, the loop and the orchestration
    assert not {m for m in graph["tavaal_nb.config"] if m.startswith(("tavaal_nb.strategies", "tavaal_nb.loop"))}
    assert not {m for m in graph["tavaal_nb.loop"] if m.startswith(("tavaal_nb.sweep", "tavaal_nb.cli"))}
    assert not any(m.startswith("tavaal_nb.cli") for name, deps in graph.items() for m in deps
                   if not is_front_door(name))


def is_front_door(module: str) -> bool:
    """The command line (the ``tavaal_nb.cli`` package) and ``python -m tavaal_nb``: the engine modules allowed to
    reach up, since the command line serves the report and the figures too."""
    return module in ("tavaal_nb.cli", "tavaal_nb.__main__") or module.startswith("tavaal_nb.cli.")


def area(module: str) -> str:
    if module == "tavaal_nb.classroom" or module.startswith("tavaal_nb.classroom."):
        return "classroom"
    if module == "tavaal_nb.analysis" or module.startswith("tavaal_nb.analysis."):
        return "read side"
    return "engine"


AREA_ORDER = {"engine": 0, "read side": 1, "classroom": 2}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{name} -> {dep}" for name, deps in graph.items() for dep in deps
                  if AREA_ORDER[area(dep)] > AREA_ORDER[area(name)] and not is_front_door(name))


def test_the_three_areas_point_down(graph):
    """The classroom may use the read side and the engine; the read side only the engine; the engine neither
    (apart from the command line's front door)."""
    assert {area(m) for m in graph} == set(AREA_ORDER)  # the three packages exist
    assert upward_imports(graph) == [], "imports pointing up: " + ", ".join(upward_imports(graph))


def test_the_area_check_sees_an_upward_import():
    graph = {"tavaal_nb.loop": {"tavaal_nb.analysis.plots"}, "tavaal_nb.analysis.plots": {"tavaal_nb.results"},
             "tavaal_nb.analysis.report": {"tavaal_nb.classroom.course"}, "tavaal_nb.cli": {"tavaal_nb.analysis.report"},
             "tavaal_nb.cli.commands": {"tavaal_nb.analysis.report"}}
    assert upward_imports(graph) == ["tavaal_nb.analysis.report -> tavaal_nb.classroom.course",
                                     "tavaal_nb.loop -> tavaal_nb.analysis.plots"]


@pytest.mark.slow
def test_the_configuration_imports_no_model(graph):
    """``tavaal_nb.config`` loads without ``tavaal_nb.models`` (the models sit above the configuration).

    The package's ``__init__`` imports the loop (and so the models) by design, so the subprocess stands in an
    empty package module for it: what is loaded is what ``config`` itself needs."""
    script = textwrap.dedent(f"""
        import json, sys, types
        package = types.ModuleType("tavaal_nb")
        package.__path__ = [{str(PACKAGE)!r}]
        sys.modules["tavaal_nb"] = package
        import tavaal_nb.config
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("tavaal_nb."))))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "tavaal_nb.config" in loaded and "tavaal_nb.presets" in loaded
    assert not [m for m in loaded if m.startswith("tavaal_nb.models")], loaded
    assert "tavaal_nb.models" not in graph["tavaal_nb.config"]
