"""run.json: what a run is, who runs it and how it is doing, for `charrnn runs`, `attach` and
`compare`. Every front end writes it through the run policy; anyone may read it.

A run.json that says live while its process is gone (killed, out of memory, a reboot) is a
crashed run, never a live one; a detached run whose socket does not answer is crashed too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.runs.rundir import RunDir, open_private

STATES = ("live", "finished", "stopped", "crashed")


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
    updated: float = field(default_factory=time.time)

    def write(self, run_dir: RunDir) -> None:
        """Replace run.json atomically: a reader never sees half a file."""
        self.updated = time.time()
        tmp = run_dir.status_file.with_name(f".{run_dir.status_file.name}.{os.getpid()}.tmp")
        with open_private(tmp, append=False) as f:
            f.write((json.dumps(dataclasses.asdict(self), indent=1) + "\n").encode("utf-8"))
        os.replace(tmp, run_dir.status_file)


def read_status(run_dir: RunDir) -> dict[str, Any] | None:
    try:
        status = json.loads(run_dir.status_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return status if isinstance(status, dict) else None


def describe_state(run_dir: RunDir) -> tuple[str, str]:
    """(state, why) of a run directory: live; finished, stopped or crashed; or unknown."""
    status = read_status(run_dir)
    if status is None:
        if run_dir.latest.exists():
            return "stopped", "no run.json"
        return "unknown", "no run.json and no latest.npz"
    state = str(status.get("state", "unknown"))
    if state != "live":
        return (state if state in STATES else "unknown"), str(status.get("reason", ""))
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
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True
