"""The shape of the code itself, read from its syntax trees: no function over 60 lines, and
nothing defined in the program that only tests use.

tests/ is held to the line limit too: a test is read by the next maintainer as often as the
code it checks, and a 60-line test is as hard to follow as a 60-line function.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ("engine", "tui", "corpora")  # what `pip install` ships
MEASURED = (*PROGRAM, "benchmarks", "tests")
MAX_LINES = 60


def python_files(root: Path, folders: tuple[str, ...]) -> Iterator[Path]:
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            if "__snapshots__" not in path.parts:
                yield path


def long_functions(root: Path, folders: tuple[str, ...] = MEASURED) -> list[str]:
    """'path:line name (n lines)' for each function, nested or not, whose `def` line to last
    line (decorators aside) is more than MAX_LINES long."""
    found = []
    for path in python_files(root, folders):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_LINES:
                    where = path.relative_to(root)
                    found.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    return found


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_names(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """The functions, classes and variables a module defines at its top level."""
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name, node.lineno
        elif isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                yield target.id, node.lineno


def imported_from(module: str, node: ast.ImportFrom) -> str:
    """The module a `from ... import` reads from, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".")[: -node.level]
    return ".".join(base + ([node.module] if node.module else []))


def unused_names(root: Path, folders: tuple[str, ...] = PROGRAM) -> list[str]:
    """'module name (line n)' for each top-level name of the program that the program never
    reads: not in its own module (a name, an attribute or a string, as getattr and __all__
    use), not imported by another module, and no attribute anywhere has its name. Tests and
    benchmarks do not count as users."""
    trees = {
        module_name(root, p): ast.parse(p.read_text("utf-8")) for p in python_files(root, folders)
    }
    used: dict[str, set[str]] = {module: set() for module in trees}
    attributes: set[str] = set()
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                used[module].add(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                used[module].add(node.value)
            elif isinstance(node, ast.Attribute):
                attributes.add(node.attr)
            elif isinstance(node, ast.ImportFrom):
                source = used.setdefault(imported_from(module, node), set())
                source.update(alias.name for alias in node.names)
    return [
        f"{module} {name} (line {line})"
        for module, tree in trees.items()
        for name, line in top_level_names(tree)
        if not name.startswith("__") and name not in used[module] | attributes
    ]


def test_no_function_is_over_60_lines() -> None:
    found = long_functions(ROOT)
    assert not found, f"split into functions of at most {MAX_LINES} lines:\n" + "\n".join(found)


def test_nothing_in_the_program_is_used_only_by_tests() -> None:
    found = unused_names(ROOT)
    assert not found, "remove these, or use them in the program:\n" + "\n".join(found)


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES - 1))
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "fits.py").write_text(f"def fits():\n{body}\n")  # 60 lines
    (tmp_path / "engine" / "long.py").write_text(f"def long():\n{body}    x = 1\n")  # 61
    (tmp_path / "engine" / "lib.py").write_text(
        "LIMIT = 3\nHIDDEN = 4\n\ndef helper():\n    return LIMIT\n\ndef orphan():\n    pass\n"
    )
    (tmp_path / "engine" / "user.py").write_text("from .lib import helper\n\nhelper()\n")
    folders = ("engine",)
    assert long_functions(tmp_path, folders) == ["engine/long.py:1 long (61 lines)"]
    unused = unused_names(tmp_path, folders)
    assert [u for u in unused if u.startswith("engine.lib")] == [
        "engine.lib HIDDEN (line 2)",
        "engine.lib orphan (line 7)",
    ]
