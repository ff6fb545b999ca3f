"""`charrnn attach`: the console on a detached run, as one more viewer of it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import CharrnnError
from tui.cli.cell_file import load_user_cell, shown_flags
from tui.cli.listing import RUNS_ROOT, run_paths
from tui.cli.terminal import require_terminal
from tui.runs.rundir import RunDir
from tui.runs.status import describe_state, read_status

if TYPE_CHECKING:
    from tui.app import ConsoleApp


def attach(args: argparse.Namespace) -> int:
    from tui.app import ConsoleApp
    from tui.links import SocketLink

    # The inspect views build the model in this process: a cell of the user's own needs its
    # file here too (the run's own files only ever name it).
    load_user_cell(args)
    run_dir = live_run(args.run, args.cell_file)
    require_terminal("the run goes on training; charrnn runs shows how it is doing")
    link = SocketLink(run_dir.socket)
    app = ConsoleApp(link, run_dir, theme=args.theme, handle_signals=True)
    app.run()
    line, status = leaving_line(app, run_dir, link.owner, shown_flags(args.cell_file))
    print(line, file=sys.stderr)
    return app.return_code or status


def leaving_line(
    app: ConsoleApp, run_dir: RunDir, pid: int | None, flags: str = ""
) -> tuple[str, int]:
    """What attach says as the console closes, and its exit status (`flags`: the cell
    file's, for attaching again)."""
    ended = app.ended
    where = f"iteration {(ended.iteration if ended else app.status.iteration):,}"
    state = f"its state is in {run_dir.latest}"
    if app.outcome == "stopped":
        return f"stopped the run at {where}; {state}", 0
    if app.outcome == "ended" and ended is not None:
        if ended.state == "crashed":
            return f"the run crashed at {where}" + (f" ({ended.reason})" if ended.reason else ""), 1
        how = (
            "finished"
            if ended.state == "finished"
            else "was stopped (by another viewer or a signal)"
        )
        return f"the run {how} at {where}; {state}", 0
    if app.outcome == "refused":
        return f"the run turned this viewer away: {app.outcome_reason}", 1
    if app.outcome == "lost":
        return f"the run is no longer reachable ({app.outcome_reason})", 1
    if not app.welcomed:
        return (f"the run never answered (pid {pid}): it may be stopped (kill -CONT {pid} "
                "resumes it); nothing was changed"), 1  # fmt: skip
    return (f"detached: training goes on ({where}); attach again with: "
            f"charrnn attach {run_dir.path}{flags}"), 0  # fmt: skip


def live_run(path: str | None, cell_file: str | None = None) -> RunDir:
    """The detached run at `path` (default: the newest live one under runs/), or a one-line
    CharrnnError saying why no viewer can attach to it (and how to resume it: with
    `cell_file`, the user's own, for a cell of their own)."""
    run_dir = RunDir(Path(path)) if path else newest_live_run(RUNS_ROOT)
    if not run_dir.path.is_dir():
        raise CharrnnError(f"{run_dir.path}: no such run directory")
    state, why = describe_state(run_dir)
    if state == "unknown":
        raise CharrnnError(f"{run_dir.path}: not a run directory ({why})")
    if state != "live":
        raise CharrnnError(f"{run_dir.path}: the run is {state}{f' ({why})' if why else ''}; "
                           f"{resume_hint(run_dir, cell_file)}")  # fmt: skip
    if why == "in a console":
        raise CharrnnError(f"{run_dir.path}: the run trains in a console of its own, not in the "
                           "background; press d there to detach it first")  # fmt: skip
    return run_dir


def resume_hint(run_dir: RunDir, cell_file: str | None = None) -> str:
    """The command that resumes a stopped run. A run of a user's cell needs its file: the
    one given here, else the file its run.json names, shown (never imported)."""
    status = read_status(run_dir) or {}
    corpus = status.get("corpus", "CORPUS")
    if not run_dir.latest.exists():
        return "it left no latest.npz to resume from"
    return (
        f"resume it with: charrnn train {corpus} --resume {run_dir.latest} "
        f"--run-dir {run_dir.path} --detach{shown_flags(cell_file or recorded_file(status))}"
    )


def recorded_file(status: dict[str, object]) -> str | None:
    """The cell file run.json names, as text to show, if it names a printable one."""
    record = status.get("cell_file")
    file = record.get("file") if isinstance(record, dict) else None
    return file if isinstance(file, str) and file.isprintable() and file else None


def newest_live_run(root: Path) -> RunDir:
    found = []
    for path in run_paths(root):
        run_dir = RunDir(path)
        status = read_status(run_dir)
        if status and describe_state(run_dir)[0] == "live":
            found.append((float(status.get("started", 0)), run_dir))
    if not found:
        raise CharrnnError(f"no live run under {root}/ (start one with: charrnn train --detach)")
    return max(found, key=lambda pair: pair[0])[1]
