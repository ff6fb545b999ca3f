"""`charrnn train --headless`: min-char-rnn's own log, line for line, from a Session.

The session (tui/runs/session.py, the loop every front end runs) trains in a thread; this
module prints what it reports: each step's `iter N, loss: X` and validation line, each
periodic sample between `----` lines, and warnings and errors on stderr. The main thread
only waits, so Ctrl-C stops the run between two steps, which then saves.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
from collections.abc import Iterator

from engine.trainer import StepResult, Trainer
from tui.cli.terminal import STDOUT_CLOSED, silence_stdout
from tui.cli.train_args import TrainArgs
from tui.runs.policy import ExitReport, RunSettings, validation_note
from tui.runs.protocol import Event, Notice, SampleReady
from tui.runs.rundir import RunDir
from tui.runs.session import HEADLESS, Session
from tui.visible import shown


class Log:
    """The session's reports as min-char-rnn's log. Called in the training thread; a closed
    stdout (`... | head`) asks the run to stop, as Ctrl-C does."""

    def __init__(self, log_every: int, stop: threading.Event) -> None:
        self.log_every = log_every
        self.stop = stop
        self.stdout_closed = False

    def event(self, event: Event) -> None:
        """Samples to stdout; warnings and errors to stderr (saves are said at the end)."""
        if isinstance(event, SampleReady) and not event.requested:
            self.out(f"----\n {shown(event.text)} \n----")
        elif isinstance(event, Notice) and event.severity != "information":
            print(f"charrnn: {event.severity}: {event.text}", file=sys.stderr, flush=True)

    def step(self, result: StepResult) -> None:
        if result.iteration % self.log_every == 0:
            self.out(f"iter {result.iteration}, loss: {result.smooth_loss:f}")
        if result.val_loss is not None:
            self.out(validation_line(result))

    def out(self, line: str | None) -> None:
        if line is None or self.stdout_closed:
            return
        try:
            print(line, flush=True)
        except BrokenPipeError:
            silence_stdout()
            self.stdout_closed = True
            self.stop.set()


def train_headless(
    args: TrainArgs, trainer: Trainer, settings: RunSettings, run_dir: RunDir | None
) -> int:
    """Train until --iters, Ctrl-C or a closed stdout, then save. Only those save: after a
    crash or a divergence the files already there are worth more than the model in memory."""
    stop = threading.Event()
    log = Log(args.log_every, stop)
    session = Session(trainer, run_dir, log.event, settings, mode=HEADLESS, on_step=log.step)
    session.policy.begin(trainer, args.corpus, args.preset, detached=False)
    with ctrl_c_sets(stop) as interrupted:
        log.out(f"data has {trainer.corpus.length} characters, {len(trainer.vocab)} unique.")
        log.out(validation_note(trainer))
        _run(session, stop)
    report = session.exit_report
    assert report is not None
    if interrupted.is_set():
        print(f"\ninterrupted at iteration {report.iteration}", file=sys.stderr)
    elif log.stdout_closed:
        print(f"charrnn: stdout closed at iteration {report.iteration}", file=sys.stderr)
    elif session.ended_by is not None:
        print(f"{session.ended_by}: finished", file=sys.stderr)
    status = 130 if interrupted.is_set() else STDOUT_CLOSED if log.stdout_closed else 0
    return _exit_status(session, report, status)


@contextlib.contextmanager
def ctrl_c_sets(stop: threading.Event) -> Iterator[threading.Event]:
    """Ctrl-C as a flag for the time of the run: it sets `stop` (and the event yielded) and
    never raises. A KeyboardInterrupt can land anywhere in the main thread, even between a
    lock's acquire and release inside Event.wait() or Thread.start(), and the training thread
    then waits for ever (CI saw Ctrl-C hang a headless run once). A second Ctrl-C while the
    run saves is ignored: the save is what Ctrl-C asked for."""
    interrupted = threading.Event()

    def on_ctrl_c(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # first: no second handler inside this one
        interrupted.set()
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield interrupted  # only the main thread receives signals
        return
    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def _run(session: Session, stop: threading.Event) -> None:
    """Train in a thread until it ends (the main thread waits, answering signals)."""
    done = threading.Event()
    thread = threading.Thread(target=_train_in_thread, args=(session, stop, done))
    thread.start()
    done.wait()
    thread.join()


def _train_in_thread(session: Session, stop: threading.Event, done: threading.Event) -> None:
    """The thread's body: a crash is in the session's exit report (nothing saved)."""
    try:
        with contextlib.suppress(Exception):
            session.train(stop.is_set)
    finally:
        done.set()


def _exit_status(session: Session, report: ExitReport, status: int) -> int:
    if session.diverged_at is not None:
        return 1  # said by the session (an error notice); nothing saved
    for path in report.saved:
        print(f"saved iteration {report.iteration} to {path}", file=sys.stderr)
    if report.errors:
        print(f"charrnn: error: {report.error}", file=sys.stderr, flush=True)
    return status or (1 if report.errors else 0)


def validation_line(result: StepResult) -> str:
    val = result.val_loss or math.nan
    best = " (best)" if result.val_best else ""
    return (
        f"iter {result.iteration}, val loss: {val:.4f} nats/char ({val / math.log(2):.4f} bits)"
        f"{best}"
    )
