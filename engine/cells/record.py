"""Which cell a checkpoint (or an inspect snapshot) holds, when it is a cell of the user's own.

A built-in cell is named by the config's `cell` alone, as checkpoints always have been. A
cell loaded from a file (`--cell-file`) is also described by a record beside the config:

    {"name": "mgu", "class": "MGUCell", "file": "cells/mgu.py", "sha256": "<64 hex digits>"}

The record is information for the user, never an instruction: nothing reads `file` to import
it. A file holding such a cell loads only in a process that was given the cell's file on its
own command line (which registered the cell, engine/cells/user.py), and only when the source
hashes as it did when the file was saved, or the user accepts a changed one
(--cell-changed-ok). Every refusal is one line; the caller adds the file's path.
"""

from __future__ import annotations

import re
from typing import Any

from engine.cells.guard import display_path
from engine.cells.registry import NAME_PATTERN, is_built_in
from engine.cells.user import loaded_cell
from engine.errors import CharrnnError

RECORD_KEY = "cell_file"  # the metadata entry that holds the record
FIELDS = ("name", "class", "file", "sha256")
MAX_FILE_CHARS = 4096
CLASS_PATTERN = re.compile(r"[A-Za-z_]\w{0,99}")
SHA256 = re.compile(r"[0-9a-f]{64}")
CHANGED_OK = "--cell-changed-ok"


class CellFileNeeded(CharrnnError):
    """The file holds a cell of the user's own that this process was not given."""

    def __init__(self, message: str, cell: str, file: str) -> None:
        super().__init__(message)
        self.cell, self.file = cell, file  # as the record says: shown, never imported


def record_for(cell: str) -> dict[str, str] | None:
    """The record a file saved now holds for the cell called `cell`: None for a built-in."""
    user = loaded_cell(cell)
    if user is None:
        return None
    return {
        "name": user.name,
        "class": user.class_name,
        "file": display_path(user.path),
        "sha256": user.sha256,
    }


def check_record(cell: object, record: object) -> None:
    """That a file whose config names `cell`, with this record (None if it has none), can be
    read by this process: a CharrnnError saying why not (CellFileNeeded when the cell's
    file was not given), in one line."""
    if record is None:
        return  # a built-in cell, or an unknown name (the config's check says which)
    checked = _checked(record)
    if checked["name"] != cell:
        raise CharrnnError(
            f"corrupt checkpoint (its cell record names {checked['name']!r}, its config "
            f"{_short(cell)})"
        )
    name, file = checked["name"], checked["file"]
    user = loaded_cell(name)
    if user is None:
        raise CellFileNeeded(
            f"holds the cell {name!r} of your own (class {checked['class']} from {file}), and "
            f"charrnn never imports code named in a file: give it again with --cell-file {file}",
            name,
            file,
        )
    if user.sha256 != checked["sha256"] and not user.changed_ok:
        raise CharrnnError(
            f"was saved with another version of the cell {name!r}: "
            f"{display_path(user.path)} now hashes to sha256 {user.sha256[:12]}, the file "
            f"says {checked['sha256'][:12]} (from {file}); {CHANGED_OK} loads it with the "
            f"source as it is now"
        )


def _checked(record: object) -> dict[str, str]:
    """The record's fields, each checked: what a crafted file puts here is only ever shown,
    so it must be short, printable text."""
    if not isinstance(record, dict) or set(record) != set(FIELDS):
        raise CharrnnError(f"corrupt checkpoint (the cell record must have {', '.join(FIELDS)})")
    if not all(isinstance(record[k], str) for k in FIELDS):
        raise CharrnnError("corrupt checkpoint (the cell record's fields must be text)")
    name, cls, file, digest = (record[k] for k in FIELDS)
    if not NAME_PATTERN.fullmatch(name) or is_built_in(name):
        raise CharrnnError(
            f"corrupt checkpoint (the cell record's name {_short(name)} is not a user cell's)"
        )
    if not CLASS_PATTERN.fullmatch(cls):
        raise CharrnnError(f"corrupt checkpoint (the cell record's class {_short(cls)})")
    if not file or len(file) > MAX_FILE_CHARS or not file.isprintable():
        raise CharrnnError(f"corrupt checkpoint (the cell record's file {_short(file)})")
    if not SHA256.fullmatch(digest):
        raise CharrnnError("corrupt checkpoint (the cell record's sha256 is not 64 hex digits)")
    return dict(zip(FIELDS, (name, cls, file, digest), strict=True))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
