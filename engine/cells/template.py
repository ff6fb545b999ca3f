"""The source of a new cell of the user's own: a textbook cell with its class and name changed
(`charrnn cell new NAME --from rnn|lstm|gru`). The textbook files are the one source: what
the user starts from is exactly what charrnn tests against its fast cells.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from engine.cells.registry import NAME_PATTERN, is_built_in
from engine.cells.textbook import gru, lstm, rnn
from engine.errors import CharrnnError

TEMPLATES = {"rnn": rnn.TextbookRNN, "lstm": lstm.TextbookLSTM, "gru": gru.TextbookGRU}
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

HEADER = """\
# {name}.py: a cell of your own, written by `charrnn cell new {name} --from {base}` from
# charrnn's textbook {base} cell (engine/cells/textbook/{base}.py), which equals the
# built-in {base}. Change the equations in forward, their derivatives in backward, and the
# declarations (activation_names, gates, equations) to match; then check your work:
#     charrnn gradcheck --cell-file {name}.py
# This file is code you run, like any Python script.
"""


def class_name(name: str) -> str:
    """`my_gru` -> `MyGruCell`: the cell's class, never the base class's own name."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_")) + "Cell"


def check_new_name(name: str) -> None:
    if not (IDENTIFIER.fullmatch(name) and NAME_PATTERN.fullmatch(name)):
        raise CharrnnError(
            f"cell name {name!r} must be a letter, then up to 31 letters, digits or _ "
            "(it names the file and the cell)"
        )
    if is_built_in(name):
        raise CharrnnError(f"{name!r} is a built-in cell's name: choose a name of your own")


def new_cell_source(name: str, base: str) -> str:
    """The text of NAME.py: the textbook `base` cell, renamed."""
    check_new_name(name)
    if base not in TEMPLATES:
        raise CharrnnError(f"unknown template {base!r} (choose from {', '.join(TEMPLATES)})")
    cls = TEMPLATES[base]
    source = Path(inspect.getfile(cls)).read_text(encoding="utf-8")
    for old, new in (
        (f"class {cls.__name__}(Cell):", f"class {class_name(name)}(Cell):"),
        (f'name = "{cls.name}"', f'name = "{name}"'),
    ):
        if source.count(old) != 1:  # a textbook file edited out of shape: charrnn's bug
            raise AssertionError(f"{base}.py should hold {old!r} exactly once")
        source = source.replace(old, new)
    return HEADER.format(name=name, base=base) + source
