"""`charrnn train` without --headless: open the console on a run, then say where it was saved."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import corpora
from engine.errors import CharrnnError
from engine.trainer import Trainer
from tui.cli.commands import make_run_dir
from tui.runs.policy import ExitReport, RunPolicy, RunSettings
from tui.runs.rundir import RunDir


@dataclass(frozen=True)
class ConsoleOptions:
    corpus: str  # as the user named it, for the resume line
    fps: int
    theme: str
    preset: str | None = None


def require_terminal(instead: str) -> None:
    """The console reads its keys from stdin: without a terminal there (`< /dev/null`, a
    cron job) it could only spin. Say so before anything is loaded or drawn. A console
    given another Textual driver (textual-serve's web driver, for `charrnn serve`) reads its
    keys from that instead."""
    if os.environ.get("TEXTUAL_DRIVER"):
        return
    try:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # stdin closed
        interactive = False
    if not interactive:
        raise CharrnnError(f"the console needs a terminal on stdin; {instead}")


def run_console(
    trainer: Trainer, settings: RunSettings, run_dir: Path | None, options: ConsoleOptions
) -> int:
    """Open the console training `trainer`; on the way out, say where the state was saved."""
    from tui.app import ConsoleApp
    from tui.links import InProcessLink
    from tui.runs.session import Session

    rundir = make_run_dir(run_dir, trainer.corpus.name)

    def text() -> str:  # read again only if a checkpoint is loaded: startup stays fast
        return corpora.load(options.corpus)[1]

    session = Session(trainer, rundir, lambda event: None, settings, text=text)
    session.policy.begin(trainer, options.corpus, options.preset, detached=False)
    app = ConsoleApp(InProcessLink(session), rundir, theme=options.theme, handle_signals=True)
    app.run()
    report = session.exit_report
    if report is None:
        # The worker never finished (it should have): save from here, it is idle now.
        report = RunPolicy(rundir, settings, lambda event: None).exit_save(session.trainer)
    if app.outcome == "detach" and rundir.latest in report.saved:
        return move_to_background(rundir, settings, options, session.temperature)
    return exit_status(report, options.corpus, app.return_code or 0)


def move_to_background(
    rundir: RunDir, settings: RunSettings, options: ConsoleOptions, temperature: float
) -> int:
    """`d`: the state was saved between two steps; a background run resumes it exactly."""
    from tui.cli.detach import launch

    argv = [
        "train", options.corpus, "--resume", str(rundir.latest), "--run-dir", str(rundir.path),
        *(["--preset", options.preset] if options.preset else []),
        "--sample-every", str(settings.sample_every),
        "--temperature", str(temperature),
        "--autosave-minutes", str(settings.autosave_seconds / 60.0),
    ]  # fmt: skip
    return launch(argv, rundir)


def exit_status(report: ExitReport, corpus: str, status: int) -> int:
    """Say where the state went; 1 if it could not be saved (unless a signal says more)."""
    for path in report.saved:
        _say(f"saved iteration {report.iteration:,} to {path}")
    if report.path is not None:
        _say(f"resume with: charrnn train {corpus} --resume {report.path}")
    if report.errors:
        _say(f"charrnn: error: {report.error}")
    return status or (1 if report.errors else 0)


def _say(line: str) -> None:
    with contextlib.suppress(OSError):  # after SIGHUP the terminal is gone; the file matters
        print(line, file=sys.stderr, flush=True)
