"""The layers keep to their direction: engine knows nothing above it, the run layer no Textual."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def modules_in(package: str) -> list[str]:
    folder = ROOT / package.replace(".", "/")
    return [
        f"{package}.{path.stem}" if path.stem != "__init__" else package
        for path in sorted(folder.glob("*.py"))
    ]


def imported_after(modules: list[str]) -> set[str]:
    """Every top-level package in sys.modules after importing `modules` in a fresh process."""
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print('\\n'.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return set(done.stdout.split())


def test_the_run_layer_imports_no_textual():
    loaded = imported_after(modules_in("tui.runs"))
    assert "tui" in loaded  # the import really happened
    assert "textual" not in loaded
    assert "rich" not in loaded


def test_the_engine_imports_nothing_of_the_console_or_the_run_layer():
    loaded = imported_after(modules_in("engine") + modules_in("engine.cells"))
    assert "engine" in loaded
    assert not {"tui", "textual", "rich", "corpora"} & loaded


def cli_imports() -> dict[str, set[str]]:
    """Which modules of tui/cli each one imports, at any depth (lazy imports too)."""
    folder = ROOT / "tui" / "cli"
    names = {path.stem for path in folder.glob("*.py")} - {"__init__", "__main__"}
    graph: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "tui.cli":
                found |= {a.name if a.name in names else "__init__" for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tui.cli."):
                found.add(node.module.split(".")[2])  # type: ignore[union-attr]
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("tui.cli.")}
        graph[path.stem] = found
    return graph


def test_the_command_line_modules_import_each_other_in_one_direction():
    graph = cli_imports()
    assert any(graph.values())  # the walk found imports

    def cycle_from(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        for imported in sorted(graph.get(module, ())):
            found = cycle_from(imported, [*path, module])
            if found:
                return found
        return None

    for module in sorted(graph):
        assert cycle_from(module, []) is None, " -> ".join(cycle_from(module, []) or [])
