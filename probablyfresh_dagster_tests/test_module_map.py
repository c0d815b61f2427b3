"""The package's import graph: no module imports one that imports it back (imports inside
functions count: they hide a circle, not remove it), and the landing loads without Dagster."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import probablyfresh_dagster

PACKAGE = Path(probablyfresh_dagster.__file__).parent


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(root: Path, path: Path, modules: set[str]) -> set[str]:
    """The package's modules `path` imports, at any depth, relative ones resolved; `from package
    import name` counts as the submodule `name` when there is one, else as the package."""
    this = module_name(root, path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            base = ".".join(filter(None, [base, node.module]))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != this:
                targets.add(name)
    return targets


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each module of the package at `root`, with the package's modules it imports."""
    paths = sorted(root.rglob("*.py"))
    modules = {module_name(root, path) for path in paths}
    return {module_name(root, path): imported(root, path, modules) for path in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as the modules along it (the first repeated at the end), or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        path.append(module)
        for target in sorted(graph[module]):
            if cycle := visit(target):
                return cycle
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        if cycle := visit(module):
            return cycle
    return None


def test_a_circle_through_a_relative_import_inside_a_function_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "base.py").write_text("def open():\n    from .sub import backend\n")
    (package / "sub" / "backend.py").write_text("from ..base import open\n")
    (package / "plain.py").write_text("import pkg.base\nimport os\n")
    graph = import_graph(package)
    assert graph["pkg.plain"] == {"pkg.base"}
    assert find_cycle(graph) == ["pkg.base", "pkg.sub.backend", "pkg.base"]


def test_no_import_circle():
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("module", ["landing", "generator.purchase_workers"])
def test_loads_without_dagster(module: str):
    """The landing (a reader of the user's files) and a purchase worker (one per core, started by
    every batch generation) import neither Dagster nor what it brings."""
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, probablyfresh_dagster.{module}; print('dagster' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"
