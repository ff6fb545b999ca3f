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
from tui.cli.train_args import TrainArgs
from tui.runs.policy import ExitReport, RunSettings
from tui.runs.rundir import RunDir, open_private
from tui.runs.status import describe_state, read_status, socket_answers

START_TIMEOUT = 120.0  # seconds a background run may take to load its corpus and listen


def launch(args: TrainArgs, run_dir: RunDir) -> int:
    """Start the background process training `args` in `run_dir`, detached from this
    terminal; return once it listens, saying where it is and how to attach."""
    state, _ = describe_state(run_dir)
    if state == "live":
        status = read_status(run_dir) or {}
        raise CharrnnError(
            f"{run_dir.path} already has a live run (pid {status.get('pid')}); "
            f"attach with: charrnn attach {run_dir.path}"
        )
    run_dir.create()
    argv = args.in_background(run_dir.path).to_argv()
    with open_private(run_dir.log) as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # no SIGHUP when this terminal goes away
        )
    _wait_until_listening(child, run_dir)
    print(f"training in the background: {run_dir.path} (pid {child.pid})")
    print(f"attach with: charrnn attach {run_dir.path}{shown_flags(args.cell_file)}")
    print(f"list runs:   charrnn runs {run_dir.path.parent}")
    return 0


def _wait_until_listening(child: subprocess.Popen[bytes], run_dir: RunDir) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not (run_dir.socket.exists() and socket_answers(run_dir.socket)):
        if child.poll() is not None:
            raise CharrnnError(f"the background run did not start: {_last_line(run_dir.log)}")
        if time.monotonic() > deadline:
            child.terminate()
            raise CharrnnError(f"the background run did not listen within {START_TIMEOUT:.0f} s")
        time.sleep(0.05)


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
    from tui.runs.server import RunServer
    from tui.runs.session import BACKGROUND, Session

    def text() -> str:  # read again only if a checkpoint is loaded
        return corpora.load(args.corpus)[1]

    session = Session(trainer, run_dir, settings=settings, text=text, mode=BACKGROUND)
    session.policy.begin(trainer, args.corpus, args.preset, detached=True)
    print(f"pid {os.getpid()}: training {trainer.summary()} on {args.corpus}", flush=True)
    report = asyncio.run(RunServer(session, run_dir).serve())
    return _log_exit(report)


def _log_exit(report: ExitReport) -> int:
    for path in report.saved:
        print(f"saved iteration {report.iteration} to {path}", flush=True)
    if report.errors:
        print(f"charrnn: error: {report.error}", flush=True)
    return 1 if report.errors else 0
