"""Taking a run directory before writing in it: every front end that trains into one (the
console, --headless with --run-dir, --detach and its background run, serve --new) claims it
here first, so that a live run's directory has one owner and a second one is turned away in
one line."""

from __future__ import annotations

import os
import sys

from engine.errors import CharrnnError
from tui.runs import lock
from tui.runs.lock import LockHeld, LocksUnsupported, OwnerLock
from tui.runs.rundir import RunDir
from tui.runs.status import describe_state, read_status


def own(run_dir: RunDir, *, record_pid: bool = True) -> OwnerLock:
    """Make this process the owner of `run_dir` (created if need be) for as long as it lives
    or until the lock is released, or a one-line CharrnnError naming the live run's PID and
    how to attach to it. `record_pid=False`: a child this lock is handed to records its own."""
    run_dir.create()
    claimed = lock.held_here(run_dir.lock) or lock.adopt(run_dir.lock)
    if claimed is not None:
        if claimed.holds == 1:
            claimed.record_pid(os.getpid())
        return claimed
    if not os.path.lexists(run_dir.lock):
        _refuse_if_live_without_lock(run_dir)  # an older charrnn's run has no lock file
    try:
        owned = lock.take(run_dir.lock)
    except LockHeld as held:
        raise CharrnnError(live_run_refusal(run_dir, held.pid)) from None
    except LocksUnsupported as exc:
        _refuse_if_live_without_lock(run_dir)
        print(f"charrnn: warning: {run_dir.path}: no file locks on this filesystem ({exc}); "
              "nothing stops a second run from writing this directory", file=sys.stderr)  # fmt: skip
        return lock.unlocked(run_dir.lock)
    owned.record_pid(os.getpid() if record_pid else None)
    return owned


def live_run_refusal(run_dir: RunDir, pid: int | None) -> str:
    who = f"pid {pid}" if pid is not None else "it is starting"
    return (
        f"{run_dir.path} already has a live run ({who}); attach with: charrnn attach {run_dir.path}"
    )


def _refuse_if_live_without_lock(run_dir: RunDir) -> None:
    live = describe_state(run_dir)[0] == "live"
    if live and lock.probe(run_dir.lock).state in ("held", "free"):
        # A run that started meanwhile made the lock file: judged by its lock, which
        # take() waits on for the owner's PID (run.json may not name it yet).
        return
    if live:
        pid = (read_status(run_dir) or {}).get("pid")
        raise CharrnnError(live_run_refusal(run_dir, pid if isinstance(pid, int) else None))
