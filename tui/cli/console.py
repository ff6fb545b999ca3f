"""`charrnn train` in the console: open it on a run, then say where the state was saved, or
move the run to the background (`d`)."""

from __future__ import annotations

import contextlib
import sys

import corpora
from engine.trainer import Trainer
from tui.cli.background import launch
from tui.cli.cell_file import shown_flags
from tui.cli.train_args import TrainArgs
from tui.runs.policy import ExitReport, RunPolicy, RunSettings
from tui.runs.rundir import RunDir


def run_console(args: TrainArgs, trainer: Trainer, settings: RunSettings, rundir: RunDir) -> int:
    """Open the console training `trainer`; on the way out, say where the state was saved."""
    from tui.app import ConsoleApp
    from tui.links import InProcessLink
    from tui.runs.session import Session

    def text() -> str:  # read again only if a checkpoint is loaded: startup stays fast
        return corpora.load(args.corpus)[1]

    session = Session(trainer, rundir, settings=settings, text=text)
    session.policy.begin(trainer, args.corpus, args.preset, detached=False)
    app = ConsoleApp(InProcessLink(session), rundir, theme=args.theme, handle_signals=True)
    app.run()
    report = session.exit_report
    if report is None:
        # The worker never finished (it should have): save from here, it is idle now.
        report = RunPolicy(rundir, settings, lambda event: None).exit_save(session.trainer)
    if app.outcome == "detach" and rundir.latest in report.saved:
        # `d`: the state was saved between two steps; a background run resumes it exactly,
        # unless the run is at its --iters already (and saved, as it would end).
        moved = args.continued(rundir.latest, session.budget_left(), session.temperature)
        if not moved.finished:
            return launch(moved, rundir)
    return exit_status(report, args.corpus, app.return_code or 0, shown_flags(args.cell_file))


def exit_status(report: ExitReport, corpus: str, status: int, flags: str = "") -> int:
    """Say where the state went and how to resume it (with `flags`: the cell file's); 1 if
    it could not be saved (unless a signal says more)."""
    for path in report.saved:
        _say(f"saved iteration {report.iteration:,} to {path}")
    if report.path is not None:
        _say(f"resume with: charrnn train {corpus} --resume {report.path}{flags}")
    if report.errors:
        _say(f"charrnn: error: {report.error}")
    return status or (1 if report.errors else 0)


def _say(line: str) -> None:
    with contextlib.suppress(OSError):  # after SIGHUP the terminal is gone; the file matters
        print(line, file=sys.stderr, flush=True)
