"""`charrnn runs`: the run directories under a root, newest first, one line each."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from engine.errors import CharrnnError
from tui.runs.rundir import RunDir
from tui.runs.status import describe_state, read_status
from tui.visible import shown

RUNS_ROOT = Path("runs")
# (title, width, alignment) of each column; the last takes what it needs. Header and rows are
# laid out by the same function, so they line up.
COLUMNS = (
    ("run", 28, "<"),
    ("state", 26, "<"),
    ("model", 24, "<"),
    ("iter", 9, ">"),
    ("loss", 7, ">"),
    ("best val", 8, ">"),
    ("updated", 0, "<"),
)


def run_paths(root: Path) -> list[Path]:
    """The directories directly under `root` (none if it cannot be read)."""
    try:
        return [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []


def list_runs(args: argparse.Namespace) -> int:
    root = Path(args.root)
    if not root.is_dir():
        raise CharrnnError(f"{root}: no such directory")
    rows = []
    for path in run_paths(root):
        run_dir = RunDir(path)
        state, why = describe_state(run_dir)
        if state == "unknown":
            continue
        status = read_status(run_dir) or {}
        started = float(status.get("started", path.stat().st_mtime))
        rows.append((started, _run_cells(path.name, state, why, status)))
    if not rows:
        print(f"no runs under {root}/")
        return 0
    print(table_line([title for title, _, _ in COLUMNS]))
    for _, cells in sorted(rows, key=lambda r: r[0], reverse=True):
        print(table_line(cells))
    return 0


def table_line(cells: Sequence[str]) -> str:
    """One line of the table: each cell cut to its column's width and aligned in it, one
    space between columns and two before the last."""
    parts = [f"{cell[:width]:{align}{width}}" if width else cell
             for cell, (_, width, align) in zip(cells, COLUMNS, strict=True)]  # fmt: skip
    return " ".join(parts[:-1]) + "  " + parts[-1]


def _run_cells(name: str, state: str, why: str, status: dict[str, object]) -> list[str]:
    label = state if state == "live" else f"{state}" + (f" ({why})" if why else "")
    if state == "live" and status.get("paused"):
        label = "live (paused)"
    preset, summary = status.get("preset"), str(status.get("model", "?")).split(",")[0]
    model = f"{preset}: {summary}" if preset else summary
    iteration = status.get("iteration")
    loss, best = status.get("smooth_loss"), status.get("best_val_loss")
    updated = status.get("updated")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(updated)) if updated else "—"
    return [
        shown(name),  # run names come from file names: escape sequences are drawn, not run
        shown(label),
        shown(model),
        str(iteration) if iteration is not None else "—",
        f"{loss:.4f}" if isinstance(loss, float) else "—",
        f"{best:.4f}" if isinstance(best, float) else "—",
        when,
    ]
