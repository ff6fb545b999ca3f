"""The commands about cells: `charrnn gradcheck` (a built-in cell or `--cell-file`) and
`charrnn cell new NAME`."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
from pathlib import Path

from engine import gradcheck as grad
from engine.cells.guard import display_path
from engine.cells.registry import cell_type
from engine.cells.template import new_cell_source
from engine.cells.user import UserCell, load_cell_file
from engine.config import Config, preset
from engine.errors import CharrnnError
from tui.cli.cell_file import refuse_both, with_cell
from tui.cli.options import hyper_parameters

GRADCHECK_SIZE = {"hidden": 8, "seq_length": 6}


def gradcheck(args: argparse.Namespace) -> int:
    changes = hyper_parameters(args)
    refuse_both(changes, args.cell_file)
    user = None if args.cell_file is None else load_cell_file(args.cell_file, debug=args.debug)
    config = preset("classic").replace(**with_cell(changes, user), **GRADCHECK_SIZE)
    print(cell_heading(config.cell, user))
    report = grad.check_cell(config, debug=args.debug, where=_where(user))
    for line in report_lines(report, config):
        print(line)
    if not report.ok:
        print(textwrap.fill(report.diagnosis(), width=88))
        print(f"gradient check failed: {'; '.join(report.failures())}", file=sys.stderr)
        return 1
    print(f"all {report.count} checks pass")
    return 0


def _where(user: UserCell | None) -> str | None:
    return None if user is None else f"{display_path(user.path)}: class {user.class_name}"


def cell_heading(name: str, user: UserCell | None) -> str:
    cls = cell_type(name)
    if user is None:
        origin = f"built in: {cls.__module__.replace('.', '/')}.py"
    else:
        origin = f"class {user.class_name} in {display_path(user.path)}, sha256 {user.sha256[:12]}"
    return "\n".join([f"cell {name} ({origin})", *(f"  {e}" for e in cls.equations)])


def report_lines(report: grad.CellReport, config: Config) -> list[str]:
    lines = [
        "protocol (types, shapes, dtypes, no NaN, every gradient element written, inputs",
        "and weights left unchanged): ok",
    ]
    lines += [f"{f.what}: {f.detail}  {'ok' if f.ok else 'FAIL'}" for f in report.findings]
    lines += [
        "gradients against central differences, float64: an entry's relative error is",
        f"|a - n| / max(|a|, |n|, {grad.FLOOR:g}); a gradient passes if its largest is "
        f"below {grad.TOLERANCE:g}",
    ]
    width = max(len(g.name) for s in report.sections for g in s.gradients)
    shown = False  # the worst entries of the first set-up that fails: where to look
    for section in report.sections:
        lines.append(section.about)
        lines += _gradient_lines(section.gradients, width, worst=not shown)
        shown = shown or not all(g.ok for g in section.gradients)
    return lines


def _gradient_lines(checks: list[grad.ParamCheck], width: int, worst: bool) -> list[str]:
    lines = []
    for g in checks:
        shape = "x".join(map(str, g.shape))
        verdict = "ok" if g.ok else "FAIL"
        lines.append(
            f"  {g.name:<{width}}  {shape:>7}  relative error {g.rel_error:.2e}  {verdict}"
        )
        if worst and not g.ok:
            lines += [
                f"      at {list(e.index)}: analytic {e.analytic:+.6e}, numerical {e.numeric:+.6e}"
                for e in g.worst
            ]
    return lines


def new_cell(args: argparse.Namespace) -> int:
    """`charrnn cell new NAME [--from rnn|lstm|gru]`: NAME.py, never over an existing file."""
    name, base = args.cell_name, getattr(args, "from")
    source = new_cell_source(name, base)
    path = Path(f"{name}.py")
    if path.exists() or path.is_symlink():
        raise CharrnnError(f"{path} already exists: choose another name, or move it away first")
    write_new_file(path, source)
    print(f"wrote {path}: the textbook {base} cell as a cell named {name!r}, ready to edit")
    print(f"check it with: charrnn gradcheck --cell-file {path}")
    return 0


def write_new_file(path: Path, text: str) -> None:
    """All of `text` at `path` or nothing, and never over a file that appeared meanwhile:
    written beside it, then hard-linked into place (which refuses an existing name)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise CharrnnError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # as an editor would create it
        os.link(tmp, path)
    except FileExistsError:
        raise CharrnnError(f"{path} already exists: choose another name") from None
    except OSError as exc:
        raise CharrnnError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
