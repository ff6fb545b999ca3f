"""Runs that outlive the terminal: `train --detach`, the background process, `attach`, `runs`."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import corpora
from engine.errors import CharrnnError
from engine.trainer import Trainer
from tui.cli.console import require_terminal
from tui.runs.policy import ExitReport, RunSettings
from tui.runs.rundir import RunDir, open_private
from tui.runs.status import describe_state, read_status
from tui.visible import shown

START_TIMEOUT = 120.0  # seconds a background run may take to load its corpus and listen
RUNS_ROOT = Path("runs")


def launch(argv: list[str], run_dir: RunDir) -> int:
    """Start `charrnn <argv> --background` detached from this terminal; return once it
    listens, saying where it is and how to attach."""

    state, _ = describe_state(run_dir)
    if state == "live":
        status = read_status(run_dir) or {}
        raise CharrnnError(
            f"{run_dir.path} already has a live run (pid {status.get('pid')}); "
            f"attach with: charrnn attach {run_dir.path}"
        )
    run_dir.create()
    with open_private(run_dir.log) as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", *argv, "--background"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # no SIGHUP when this terminal goes away
        )
    _wait_until_listening(child, run_dir)
    print(f"training in the background: {run_dir.path} (pid {child.pid})")
    print(f"attach with: charrnn attach {run_dir.path}")
    print(f"list runs:   charrnn runs {run_dir.path.parent}")
    return 0


def _wait_until_listening(child: subprocess.Popen[bytes], run_dir: RunDir) -> None:
    from tui.runs.status import socket_answers

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


def detach_argv(argv: list[str], run_dir: RunDir) -> list[str]:
    """The user's `train` arguments for the background process: --detach dropped and the
    run directory made explicit, so both processes agree on it."""
    args = [a for a in argv if a != "--detach"]
    if not any(a == "--run-dir" or a.startswith("--run-dir=") for a in args):
        args += ["--run-dir", str(run_dir.path)]
    return args


def run_dir_for(path: str | None, corpus: str) -> RunDir:
    return RunDir(Path(path)) if path else RunDir.default_for(corpora.resolve(corpus).name)


def run_background(
    trainer: Trainer, settings: RunSettings, run_dir: RunDir, corpus: str, preset: str | None
) -> int:
    """The detached process: serve the run on its socket until it is stopped."""
    from tui.runs.server import RunServer
    from tui.runs.session import Session

    def text() -> str:  # read again only if a checkpoint is loaded
        return corpora.load(corpus)[1]

    session = Session(trainer, run_dir, lambda event: None, settings, text=text)
    session.finish_at_stop = True
    session.policy.begin(trainer, corpus, preset, detached=True)
    print(f"pid {os.getpid()}: training {trainer.summary()} on {corpus}", flush=True)
    report = asyncio.run(RunServer(session, run_dir).serve())
    return _log_exit(report)


def _log_exit(report: ExitReport) -> int:
    for path in report.saved:
        print(f"saved iteration {report.iteration} to {path}", flush=True)
    if report.errors:
        print(f"charrnn: error: {report.error}", flush=True)
    return 1 if report.errors else 0


# -- attach -----------------------------------------------------------------------------------


def attach(args: argparse.Namespace) -> int:
    from tui.app import ConsoleApp
    from tui.links import SocketLink

    run_dir = live_run(args.run)
    require_terminal("the run goes on training; charrnn runs shows how it is doing")
    app = ConsoleApp(SocketLink(run_dir.socket), run_dir, theme=args.theme, handle_signals=True)
    app.run()
    where = f"iteration {app.status.iteration:,}"  # the last this viewer saw
    if app.outcome == "stopped":
        print(f"stopped the run at {where}; its state is in {run_dir.latest}", file=sys.stderr)
    elif app.outcome == "lost":
        print(f"the run is no longer reachable ({app.outcome_reason})", file=sys.stderr)
        return 1
    else:
        print(f"detached: training goes on ({where}); attach again with: "
              f"charrnn attach {run_dir.path}", file=sys.stderr)  # fmt: skip
    return app.return_code or 0


def live_run(path: str | None) -> RunDir:
    """The detached run at `path` (default: the newest live one under runs/), or a one-line
    CharrnnError saying why no viewer can attach to it."""
    run_dir = RunDir(Path(path)) if path else newest_live_run(RUNS_ROOT)
    if not run_dir.path.is_dir():
        raise CharrnnError(f"{run_dir.path}: no such run directory")
    state, why = describe_state(run_dir)
    if state == "unknown":
        raise CharrnnError(f"{run_dir.path}: not a run directory ({why})")
    if state != "live":
        raise CharrnnError(f"{run_dir.path}: the run is {state}{f' ({why})' if why else ''}; "
                           f"{resume_hint(run_dir)}")  # fmt: skip
    if why == "in a console":
        raise CharrnnError(f"{run_dir.path}: the run trains in a console of its own, not in the "
                           "background; press d there to detach it first")  # fmt: skip
    return run_dir


def resume_hint(run_dir: RunDir) -> str:
    status = read_status(run_dir) or {}
    corpus = status.get("corpus", "CORPUS")
    if not run_dir.latest.exists():
        return "it left no latest.npz to resume from"
    return (
        f"resume it with: charrnn train {corpus} --resume {run_dir.latest} "
        f"--run-dir {run_dir.path} --detach"
    )


def newest_live_run(root: Path) -> RunDir:

    found = []
    for path in _run_paths(root):
        run_dir = RunDir(path)
        status = read_status(run_dir)
        if status and describe_state(run_dir)[0] == "live":
            found.append((float(status.get("started", 0)), run_dir))
    if not found:
        raise CharrnnError(f"no live run under {root}/ (start one with: charrnn train --detach)")
    return max(found, key=lambda pair: pair[0])[1]


def _run_paths(root: Path) -> list[Path]:
    try:
        return [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []


# -- runs -------------------------------------------------------------------------------------


def list_runs(args: argparse.Namespace) -> int:

    root = Path(args.root)
    if not root.is_dir():
        raise CharrnnError(f"{root}: no such directory")
    rows = []
    for path in _run_paths(root):
        run_dir = RunDir(path)
        state, why = describe_state(run_dir)
        if state == "unknown":
            continue
        status = read_status(run_dir) or {}
        rows.append(
            (float(status.get("started", path.stat().st_mtime)), path.name, state, why, status)
        )
    if not rows:
        print(f"no runs under {root}/")
        return 0
    print(
        f"{'run':<32} {'state':<22} {'model':<24} {'iter':>9} {'loss':>7} {'best val':>8}  updated"
    )
    for _, name, state, why, status in sorted(rows, key=lambda r: r[0], reverse=True):
        print(shown(_run_row(name, state, why, status)))  # run names come from file names
    return 0


def _run_row(name: str, state: str, why: str, status: dict[str, object]) -> str:
    label = state if state == "live" else f"{state}" + (f" ({why})" if why else "")
    if state == "live" and status.get("paused"):
        label = "live (paused)"
    preset, summary = status.get("preset"), str(status.get("model", "?")).split(",")[0]
    model = f"{preset}: {summary}" if preset else summary
    iteration = status.get("iteration")
    loss, best = status.get("smooth_loss"), status.get("best_val_loss")
    updated = status.get("updated")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(updated)) if updated else "—"
    return (
        f"{name[:28]:<28} {label[:26]:<26} {model[:24]:<24} "
        f"{iteration if iteration is not None else '—':>9} "
        f"{f'{loss:.4f}' if isinstance(loss, float) else '—':>7} "
        f"{f'{best:.4f}' if isinstance(best, float) else '—':>8}  {when}"
    )
