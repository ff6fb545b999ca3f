"""The cells charrnn knows by name: the built-in ones, and the user's, registered at run time.

Everything that lists cells (the config's choices, the inspect views' activations, gates and
finder kinds, size estimates) asks here, so a cell registered by `register` is as much a cell
as a built-in one. A cell's declaration is checked once, when it is registered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from engine.cells.base import REQUIRED_METHODS, Cell
from engine.errors import CharrnnError

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
KIND_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,15}")  # an activation's name

CELL_TYPES: dict[str, type[Cell]] = {}  # name -> class, built-ins first
_BUILT_IN: set[str] = set()


def _names(cls: type[Cell], field: str, where: str) -> tuple[str, ...]:
    value = getattr(cls, field, None)
    if value is None:
        raise CharrnnError(f"{where}: declares no {field} (see engine/cells/base.py)")
    if not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
        raise CharrnnError(f"{where}: {field} must be a tuple of strings (got {value!r})")
    return tuple(value)


def _check_kinds(cls: type[Cell], where: str) -> None:
    kinds = _names(cls, "activation_names", where)
    bad = [k for k in kinds if not KIND_PATTERN.fullmatch(k)]
    if bad or not kinds or len(set(kinds)) < len(kinds) or "h" not in kinds:
        raise CharrnnError(
            f"{where}: activation_names must be distinct short names including 'h' (got {kinds!r})"
        )
    for field in ("gates", "memory", "state_names", "finder_kinds"):
        unknown = [k for k in _names(cls, field, where) if k not in kinds]
        if unknown:
            raise CharrnnError(
                f"{where}: {field} names {', '.join(map(repr, unknown))}, which is not among "
                f"activation_names {kinds!r}"
            )
    if set(cls.gates) & set(cls.memory):
        raise CharrnnError(f"{where}: an activation cannot be both a gate and memory")
    if not cls.state_names or cls.state_names[0] != "h":
        raise CharrnnError(f"{where}: state_names must start with 'h' (got {cls.state_names!r})")
    if not cls.finder_kinds:
        raise CharrnnError(f"{where}: finder_kinds must name at least one activation")


def check_declaration(cls: type, where: str | None = None) -> None:
    """A CharrnnError naming the first thing wrong with what `cls` declares about itself:
    its name, its activations and their kinds, its weight blocks, its equations, and which
    of the protocol's methods it lacks. `where` says which class in which file."""
    where = where or f"cell class {cls.__name__}"
    if not (isinstance(cls, type) and issubclass(cls, Cell)):
        raise CharrnnError(f"{where}: a cell derives from engine.cells.base.Cell")
    name = getattr(cls, "name", None)
    if name is None:
        raise CharrnnError(f'{where}: declares no name (add name = "mycell" to the class)')
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise CharrnnError(
            f"{where}: name must be a letter then up to 31 letters, digits, - or _ "
            f'(got {name!r}); declare it as name = "mycell"'
        )
    _check_kinds(cls, where)
    blocks = getattr(cls, "weight_blocks", None)
    if blocks is None:
        raise CharrnnError(f"{where}: declares no weight_blocks (see engine/cells/base.py)")
    if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
        raise CharrnnError(
            f"{where}: weight_blocks must be a whole number of gate-sized blocks per weight "
            f"matrix, 1 or more (got {blocks!r})"
        )
    equations = _names(cls, "equations", where)
    if not equations or not all(e.strip() and "\n" not in e for e in equations):
        raise CharrnnError(f"{where}: equations must be one non-empty line per equation")
    missing = [m for m in REQUIRED_METHODS if getattr(cls, m, None) is getattr(Cell, m)]
    if missing:
        raise CharrnnError(
            f"{where}: missing method {', '.join(missing)} (see engine/cells/base.py)"
        )


def register(cls: type[Cell], *, built_in: bool = False, where: str | None = None) -> type[Cell]:
    """Check `cls`'s declaration and make it a cell charrnn knows by its name. A name that is
    a built-in cell's is refused (a checkpoint must say unambiguously which cell it holds);
    a user's cell registered again under its name replaces the earlier one."""
    where = where or f"cell class {cls.__name__}"
    check_declaration(cls, where)
    refuse_built_in_name(cls, where)
    CELL_TYPES[cls.name] = cls
    if built_in:
        _BUILT_IN.add(cls.name)
    return cls


def refuse_built_in_name(cls: type[Cell], where: str) -> None:
    if cls.name in _BUILT_IN and CELL_TYPES[cls.name] is not cls:
        raise CharrnnError(
            f"{where}: the name {cls.name!r} is a built-in cell's; give your cell a name of "
            f'its own (name = "...")'
        )


def register_built_in(classes: Iterable[type[Cell]]) -> tuple[str, ...]:
    return tuple(register(cls, built_in=True).name for cls in classes)


def is_built_in(name: str) -> bool:
    return name in _BUILT_IN


def cell_names() -> tuple[str, ...]:
    """Every cell known now: the built-in ones, then those registered at run time."""
    return tuple(CELL_TYPES)


def cell_type(name: str) -> type[Cell]:
    """The class of the cell called `name`, or a CharrnnError listing the known ones."""
    try:
        return CELL_TYPES[name]
    except (KeyError, TypeError):
        raise CharrnnError(unknown_cell(name)) from None


def unknown_cell(name: object, choices: Sequence[str] | None = None) -> str:
    choices = cell_names() if choices is None else choices
    return (
        f"unknown cell {name!r} (choose from {', '.join(choices)}; a cell of your own needs "
        f"its file: --cell-file)"
    )
