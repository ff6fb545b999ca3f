"""The layers keep to their direction: engine knows nothing above it, the run layer no Textual."""

from __future__ import annotations

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
