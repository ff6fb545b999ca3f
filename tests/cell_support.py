"""Users' cells for tests: the fixtures, the registry put back as it was, and the broken
variants of mgu.py that every command must refuse in one line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.cells import CELL_TYPES
from engine.cells.user import LOADED

FIXTURES = Path(__file__).parent / "fixtures" / "cells"
MGU = FIXTURES / "mgu.py"
MGU_SOURCE = MGU.read_text(encoding="utf-8")


@contextmanager
def registry_kept() -> Iterator[None]:
    """Cells registered (and files loaded) inside are forgotten afterwards: other tests load
    the fixtures' cells themselves, or need them not loaded."""
    cells, loaded = dict(CELL_TYPES), dict(LOADED)
    try:
        yield
    finally:
        CELL_TYPES.clear()
        CELL_TYPES.update(cells)
        LOADED.clear()
        LOADED.update(loaded)


def variant(tmp_path: Path, old: str, new: str, name: str = "cell.py") -> Path:
    """mgu.py with one piece of its source replaced."""
    assert MGU_SOURCE.count(old) == 1, old
    path = tmp_path / name
    path.write_text(MGU_SOURCE.replace(old, new), encoding="utf-8")
    return path


# case: (what mgu.py has, what the bad file has instead, the error; {line} is the line of
# the last line of the replacement)
BAD_FILES = {
    "syntax error": (
        "h = state[0]\n",
        "h = state[0]\n        )\n",
        r"cell\.py:{line}: syntax error: unmatched '\)'$",
    ),
    "missing method": (
        "    def activations(self, cache):\n",
        "    def not_activations(self, cache):\n",
        r"cell\.py: class MGUCell: missing method activations \(see engine/cells/base\.py\)$",
    ),
    "missing declaration": (
        "    weight_blocks = 2\n",
        "",
        r"cell\.py: class MGUCell: declares no weight_blocks",
    ),
    "undeclared gate": (
        'gates = ("f",)',
        'gates = ("z",)',
        r"gates names 'z', which is not among activation_names \('h', 'f', 'n'\)$",
    ),
    "wrong shapes": (
        'return np.stack([s["h"] for s in steps]), steps, (h,)',
        'return np.stack([s["h"] for s in steps])[:, :, 1:], steps, (h,)',
        r"class MGUCell: forward's hs has shape \(4, 2, 4\); the protocol wants \(4, 2, 5\)$",
    ),
    "exception inside forward": (
        'n = np.tanh(x @ p["Wxn"] + (f * h_prev) @ p["Whn"] + p["bn"])',
        'n = np.tanh(x @ p["Wxn"] + (f * h_prev) @ p["Whn"][:2] + p["bn"])',
        r"cell\.py:{line}: ValueError in forward: matmul: .* \(--debug shows the traceback\)$",
    ),
    "NaN output": (
        "            h = (1 - f) * h_prev + f * n\n",
        "            h = (1 - f) * h_prev + f * n * np.log(-1)\n",
        r"class MGUCell: forward's hs holds 40 NaN or infinite values of 40$",
    ),
    "gradient left unwritten": (
        "grads[k][...] = v",
        "grads[k] = v",
        r"backward left 30 of 30 elements of the gradient of Wxf unwritten or NaN \(write "
        r"into the array given: grads\['Wxf'\]\[\.\.\.\] = \.\.\.\)$",
    ),
    "exception at import": (
        "import numpy as np\n",
        "import numpy as np\nimport a_module_that_is_not_there\n",
        r"cell\.py:{line}: ModuleNotFoundError in the module's own code: No module named",
    ),
    "a built-in cell's name": (
        'name = "mgu"',
        'name = "gru"',
        r"class MGUCell: the name 'gru' is a built-in cell's; give your cell a name of its own",
    ),
}


def last_line_of(old: str, new: str) -> int:
    """The line number, in the bad file, of the last line of `new` (which replaced `old`)."""
    return MGU_SOURCE.count("\n", 0, MGU_SOURCE.index(old)) + new.rstrip("\n").count("\n") + 1


def with_marker(source: str, marker: Path) -> str:
    """`source` that also creates `marker` when it is imported: the proof that it was."""
    future = "from __future__ import annotations\n"
    return source.replace(future, f"{future}\nopen({str(marker)!r}, 'w').close()\n", 1)
