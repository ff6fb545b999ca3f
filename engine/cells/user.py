"""A cell of the user's own, from a Python file: `--cell-file PATH[:CLASS]`.

The file is imported as a module: it is code the user runs, like any script they run with
python. Only a path the user typed on their own command line is ever imported; nothing read
from a checkpoint, a run directory, the socket protocol or a browser names a file to import.

Loading finds the cell class (the only class derived from Cell in the file, or CLASS),
checks its declaration, runs it once over a small random window (engine/cells/probe.py),
hashes its source and registers it under its name. Each problem is one CharrnnError line:
a syntax error (file:line and the message), an exception in the user's code (its type,
message and file:line), a missing method or declaration, wrong shapes, NaN output.
"""

from __future__ import annotations

import hashlib
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from engine.cells.base import Cell
from engine.cells.guard import USER_MODULE_PREFIX, display_path, one_line, running
from engine.cells.probe import probe_all
from engine.cells.registry import CELL_TYPES, check_declaration, refuse_built_in_name, register
from engine.errors import CharrnnError
from engine.files import check_regular_file

CLASS_SUFFIX = re.compile(r"(.+):([A-Za-z_]\w*)")
MAX_SOURCE_BYTES = 1_000_000


@dataclass(frozen=True)
class UserCell:
    cls: type[Cell]
    path: Path  # resolved
    class_name: str
    sha256: str  # of the file's bytes, as a checkpoint records it
    # --cell-changed-ok: files saved with another version of this source load too
    changed_ok: bool = False

    @property
    def name(self) -> str:
        return self.cls.name

    @property
    def spec(self) -> str:
        """`PATH:CLASS`, absolute: what another process is given to load the same cell."""
        return f"{self.path}:{self.class_name}"


# The cells loaded from files in this process, by name: what a checkpoint's record of a
# cell is checked against (engine/cells/record.py).
LOADED: dict[str, UserCell] = {}


def loaded_cell(name: str) -> UserCell | None:
    """The user cell registered under `name` in this process, if its file was loaded here
    (and is still the class registered under that name)."""
    user = LOADED.get(name)
    return user if user is not None and CELL_TYPES.get(name) is user.cls else None


def split_spec(spec: str) -> tuple[Path, str | None]:
    """`PATH` or `PATH:CLASS`."""
    match = CLASS_SUFFIX.fullmatch(spec)
    if match and not Path(spec).exists():
        return Path(match[1]), match[2]
    return Path(spec), None


def read_source(path: Path) -> bytes:
    shown = display_path(path)
    info = check_regular_file(path, "a cell file")
    if info.st_size > MAX_SOURCE_BYTES:
        raise CharrnnError(f"{shown} is {info.st_size:,} bytes: not a cell file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CharrnnError(f"{shown}: cannot read: {exc.strerror or exc}") from None


def source_hash(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()


def import_source(path: Path, source: bytes, debug: bool = False) -> types.ModuleType:
    """Run the file as a fresh module; a syntax error or an exception is one line."""
    filename = str(path)
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as exc:
        line = f":{exc.lineno}" if exc.lineno else ""
        raise CharrnnError(f"{display_path(path)}{line}: syntax error: {exc.msg}") from None
    except ValueError as exc:  # e.g. a NUL byte
        raise CharrnnError(f"{display_path(path)}: not Python source ({one_line(exc)})") from None
    name = USER_MODULE_PREFIX + source_hash(source)[:16]
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module  # dataclasses and typing look their module up here
    try:
        with running(filename, "the module's own code", debug):
            exec(code, module.__dict__)
    except CharrnnError:
        del sys.modules[name]
        raise
    return module


def find_class(module: types.ModuleType, path: Path, class_name: str | None) -> type[Cell]:
    shown = display_path(path)
    if class_name is not None:
        cls = getattr(module, class_name, None)
        if not isinstance(cls, type):
            raise CharrnnError(f"{shown} has no class {class_name}")
        return cls
    found = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Cell) and v.__module__ == module.__name__
    ]
    if not found:
        raise CharrnnError(
            f"{shown} defines no cell: a cell is a class derived from engine.cells.base.Cell "
            f"(charrnn cell new NAME writes one to start from)"
        )
    if len(found) > 1:
        names = ", ".join(c.__name__ for c in found)
        raise CharrnnError(f"{shown} defines several cells ({names}): name one, as {shown}:CLASS")
    return found[0]


def load_cell_file(spec: str, debug: bool = False, changed_ok: bool = False) -> UserCell:
    """Import, check, probe and register the cell of `spec` (`PATH` or `PATH:CLASS`).
    `changed_ok`: checkpoints saved with another version of its source load too."""
    path, class_name = split_spec(spec)
    source = read_source(path)
    path = path.resolve()
    module = import_source(path, source, debug)
    cls = find_class(module, path, class_name)
    where = f"{display_path(path)}: class {cls.__name__}"
    check_declaration(cls, where)
    refuse_built_in_name(cls, where)
    probe_all(cls, where, debug)
    register(cls, where=where)
    user = UserCell(cls, path, cls.__name__, source_hash(source), changed_ok)
    LOADED[user.name] = user
    return user
