"""Runs that outlive the terminal: starting a background run (`train --detach`, and `d` in
the console), and the background process itself, which serves its run on a socket."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import corpora
from engine.errors import CharrnnError
from engine.trainer import Trainer
from tui.cli.cell_file import shown_flags
from tui.cli.ownership import own
from tui.cli.train_args import TrainArgs
from tui.runs.endpoint import Unreachable, connect
from tui.runs.policy import ExitReport, RunSettings
from tui.runs.rundir import RunDir, open_private

START_TIMEOUT = 120.0  # seconds a background run may take to load its corpus and listen


def launch(args: TrainArgs, run_dir: RunDir) -> int:
    """Start the background process training `args` in `run_dir`, detached from this
    terminal; return once it listens, saying where it is and how to attach.

    This process takes the directory's lock first (or already holds it: `d` in the console)
    and hands it to the child, which inherits it: two launches at once start one run, and
    the directory has an owner at every moment."""
    with own(run_dir, record_pid=False) as owner:
        argv = args.in_background(run_dir.path).to_argv()
        handed, fds = owner.for_child()
        with open_private(run_dir.log) as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "tui.cli", *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # no SIGHUP when this terminal goes away
                pass_fds=fds,
                env={**os.environ, **handed},
            )
        _wait_until_listening(child, run_dir)
    print(f"training in the background: {run_dir.path} (pid {child.pid})")
    print(f"attach with: charrnn attach {run_dir.path}{shown_flags(args.cell_file)}")
    print(f"list runs:   charrnn runs {run_dir.path.parent}")
    return 0


def _wait_until_listening(child: subprocess.Popen[bytes], run_dir: RunDir) -> None:
    """Until the child itself answers on the run's socket (not whatever may be there)."""
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(run_dir, child.pid):
        if child.poll() is not None:
            raise CharrnnError(f"the background run did not start: {_last_line(run_dir.log)}")
        if time.monotonic() > deadline:
            child.terminate()
            raise CharrnnError(f"the background run did not listen within {START_TIMEOUT:.0f} s")
        time.sleep(0.05)


def _answers(run_dir: RunDir, pid: int) -> bool:
    try:
        connect(run_dir.socket, pid, timeout=1.0).close()
    except Unreachable:
        return False
    return True


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return f"see {path}"
    last = lines[-1] if lines else f"see {path}"
    return last.removeprefix("charrnn: error: ")


def run_background(
    args: TrainArgs, trainer: Trainer, settings: RunSettings, run_dir: RunDir
) -> int:
    """The detached process: serve the run on its socket until it is stopped."""
    from tui.runs.server import RunServer, clear_stale
    from tui.runs.session import BACKGROUND, Session

    def text() -> str:  # read again only if a checkpoint is loaded
        return corpora.load(args.corpus)[1]

    clear_stale(run_dir.socket)  # refused before run.json says this run lives
    session = Session(trainer, run_dir, settings=settings, text=text, mode=BACKGROUND)
    session.policy.begin(trainer, args.corpus, args.preset, detached=True)
    print(f"pid {os.getpid()}: training {trainer.summary()} on {args.corpus}", flush=True)
    report = asyncio.run(RunServer(session, run_dir).serve())
    if session.ended_by is not None:
        print(f"{session.ended_by}: finished", flush=True)
    return _log_exit(report)


def _log_exit(report: ExitReport) -> int:
    for path in report.saved:
        print(f"saved iteration {report.iteration} to {path}", flush=True)
    for warning in report.warnings:
        print(f"charrnn: warning: {warning}", flush=True)
    if report.errors:
        print(f"charrnn: error: {report.error}", flush=True)
    return 1 if report.errors else 0
