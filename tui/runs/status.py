"""run.json: what a run is, who runs it and how it is doing, for `charrnn runs`, `attach` and
`compare`. Every front end writes it through the run policy; anyone may read it.

Whether a run lives is its owner lock's answer (tui/runs/lock.py), never run.json's: a run
whose lock is free is over, and one that ended without a word (killed, out of memory, a
reboot) while its run.json still says live is a crashed run. A directory with no lock file
was written by an older charrnn (or where locks do not work): it is judged as it always was,
by run.json's PID and, for a detached run, its socket, until a new owner takes the lock.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import CharrnnError
from engine.files import open_regular
from tui.runs.lock import probe
from tui.runs.rundir import RunDir, open_private

STATES = ("live", "finished", "stopped", "crashed")
MAX_STATUS_BYTES = 1 << 20  # a run.json is a few kB; anything longer is not one


@dataclass
class RunStatus:
    pid: int
    corpus: str  # as the user named it: what `--resume` needs again
    preset: str | None
    model: str  # the trainer's one-line summary
    config: dict[str, Any]
    detached: bool  # steerable over control.sock
    # A cell of the user's own: its record (engine/cells/record.py), shown in resume hints;
    # never a file anyone imports.
    cell_file: dict[str, str] | None = None
    started: float = field(default_factory=time.time)
    state: str = "live"
    reason: str = ""  # why a run stopped or crashed, when there is more to say
    paused: bool = False
    iteration: int = 0
    smooth_loss: float | None = None  # nats/char
    best_val_loss: float | None = None
    # Where the run ends (engine/schedule.py's Budget as a dict): the curves mark it.
    budget: dict[str, Any] | None = None
    updated: float = field(default_factory=time.time)

    def write(self, run_dir: RunDir) -> None:
        """Replace run.json atomically: a reader never sees half a file. Where the directory
        takes no new file (made read-only under a live run), it is rewritten in place, so
        that it still says how the run ended."""
        self.updated = time.time()
        text = (json.dumps(dataclasses.asdict(self), indent=1) + "\n").encode("utf-8")
        tmp = run_dir.status_file.with_name(f".{run_dir.status_file.name}.{os.getpid()}.tmp")
        try:
            with open_private(tmp, append=False) as f:
                f.write(text)
        except PermissionError:
            _rewrite_in_place(run_dir.status_file, text)
            return
        os.replace(tmp, run_dir.status_file)


def _rewrite_in_place(path: Path, text: bytes) -> None:
    """Overwrite the regular file `path` (never through a link, never created here)."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "wb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        f.write(text)
        f.truncate()


def read_status(run_dir: RunDir) -> dict[str, Any] | None:
    """run.json's object, or None if it is missing, unreadable, not a regular file (a FIFO
    put there must not hang `runs`) or not a JSON object."""
    try:
        with open_regular(run_dir.status_file, "a run status") as f:
            text = f.read(MAX_STATUS_BYTES + 1)
        status = json.loads(text.decode("utf-8")) if len(text) <= MAX_STATUS_BYTES else None
    except (OSError, CharrnnError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    return status if isinstance(status, dict) else None


def describe_state(run_dir: RunDir) -> tuple[str, str]:
    """(state, why) of a run directory: live; finished, stopped or crashed; or unknown."""
    holder = probe(run_dir.lock)
    if holder.state in ("absent", "unsupported"):
        return _state_without_lock(run_dir)
    status = read_status(run_dir)
    if holder.state == "held":
        return "live", "in a console" if _in_console(status, holder.pid) else ""
    return _ended_state(run_dir, status)


def live_owner(run_dir: RunDir) -> int | None:
    """The PID of the process that owns the live run in `run_dir` (None if none does): the
    lock's holder, or for a directory without a lock file the PID run.json names."""
    holder = probe(run_dir.lock)
    if holder.state == "held":
        return holder.pid
    if holder.state == "free" or _state_without_lock(run_dir)[0] != "live":
        return None
    pid = (read_status(run_dir) or {}).get("pid")
    return pid if isinstance(pid, int) else None


def _in_console(status: dict[str, Any] | None, owner: int | None) -> bool:
    """Whether run.json, written by the lock's holder, says it trains in a console."""
    return bool(status) and status.get("pid") == owner and status.get("detached") is False


def _ended_state(run_dir: RunDir, status: dict[str, Any] | None) -> tuple[str, str]:
    """The state of a run no process owns: as run.json says, and crashed if it says live."""
    if status is None:
        if run_dir.latest.exists():
            return "stopped", "no run.json"
        return "unknown", "no run.json and no latest.npz"
    state = str(status.get("state", "unknown"))
    if state == "live":
        return "crashed", "process gone"
    return (state if state in STATES else "unknown"), str(status.get("reason", ""))


def _state_without_lock(run_dir: RunDir) -> tuple[str, str]:
    """An older charrnn's judgement, for a directory with no lock file: a live run.json is
    believed while its PID lives and, for a detached run, its socket answers."""
    status = read_status(run_dir)
    if status is None or status.get("state") != "live":
        return _ended_state(run_dir, status)
    pid = status.get("pid")
    if not isinstance(pid, int) or not pid_alive(pid):
        return "crashed", "process gone"
    if not status.get("detached"):
        return "live", "in a console"
    if not socket_answers(run_dir.socket):
        return "crashed", "socket silent"
    return "live", ""


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here: kill's answer is all there is
    return stat_line.rsplit(")", 1)[-1].split()[0] != "Z"


def socket_answers(path: os.PathLike[str] | str, timeout: float = 1.0) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        try:
            client.connect(str(path))
        except OSError:
            return False
    return True
