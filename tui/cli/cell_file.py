"""`--cell-file PATH[:CLASS]` on the commands that build a model (train, sample, inspect,
attach, serve): the user's cell loaded, checked and registered before anything reads a
checkpoint that names it. Only a path on the user's own command line gets here."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from engine.cells.user import UserCell, load_cell_file
from engine.errors import CharrnnError


def load_user_cell(args: argparse.Namespace | Any) -> UserCell | None:
    """The cell of `args.cell_file` (argparse's or TrainArgs), registered under its name;
    None without the flag."""
    if args.cell_file is None:
        return None
    return load_cell_file(args.cell_file, debug=args.debug, changed_ok=args.cell_changed_ok)


def refuse_both(changes: dict[str, Any], cell_file: str | None) -> None:
    """--cell and --cell-file together: said before the file's code runs."""
    if cell_file is not None and "cell" in changes:
        raise CharrnnError("give --cell or --cell-file, not both")


def with_cell(changes: dict[str, Any], user: UserCell | None) -> dict[str, Any]:
    """The config changes with the user's cell as the cell, which replaces a preset's."""
    return changes if user is None else {**changes, "cell": user.name}


def cell_file_flags(spec: str | None, changed_ok: bool = False) -> list[str]:
    """The flags that hand the same cell file on to another command."""
    if spec is None:
        return []
    return ["--cell-file", spec, *(["--cell-changed-ok"] if changed_ok else [])]


def shown_flags(spec: str | None, changed_ok: bool = False) -> str:
    """`cell_file_flags` as a hint prints them: ` --cell-file mgu.py`, or ''."""
    flags = cell_file_flags(spec, changed_ok)
    return " " + shlex.join(flags) if flags else ""
