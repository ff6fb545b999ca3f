"""Detached runs for tests: start one on a tiny corpus, talk to it as a raw protocol viewer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tui.runs.endpoint import connect
from tui.runs.protocol import Command, Event, Heartbeat, decode, encode
from tui.runs.rundir import RunDir
from tui.runs.status import live_owner, pid_alive

TINY_FLAGS = ["--hidden", "8", "--seq-length", "8", "--sample-every", "50"]


def charrnn(*argv: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it (a separate process)."""
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start_detached(tmp_path: Path, *flags: str, name: str = "run") -> RunDir:
    done = charrnn("train", "blog_sample", "--detach", "--run-dir", name, *TINY_FLAGS, *flags,
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"charrnn attach {name}" in done.stdout
    return RunDir(tmp_path / name)


def run_pid(run_dir: RunDir) -> int:
    return int(json.loads(run_dir.status_file.read_text())["pid"])


def alive(pid: int) -> bool:
    return pid_alive(pid)


def stop_run(run_dir: RunDir, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """End a detached run (tests must not leave one behind)."""
    try:
        pid = run_pid(run_dir)
    except (OSError, ValueError, KeyError):
        return
    if alive(pid):
        os.kill(pid, sig)
    wait_until(lambda: not alive(pid), f"pid {pid} to exit", timeout)


def wait_until(predicate: Callable[[], object], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Viewer:
    """A raw protocol viewer: what `charrnn attach` says and hears, without the screen."""

    def __init__(self, run_dir: RunDir) -> None:
        # As attach connects: to the run's own socket, whatever the directory's length.
        self.sock = connect(run_dir.socket, live_owner(run_dir), timeout=20)
        self.file = self.sock.makefile("rb")

    def send(self, command: Command) -> None:
        self.sock.sendall(encode(command))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def next_event(self) -> Event:
        """The next event, heartbeats skipped (they only say the run answers)."""
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError("the run closed the connection")
            event = decode(line)
            if not isinstance(event, Heartbeat):
                return event  # type: ignore[return-value]

    def wait_for(self, wanted: Callable[[Event], bool], timeout: float = 20) -> Event:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = self.next_event()
            if wanted(event):
                return event
        raise AssertionError("the wanted event never came")

    def close(self) -> None:
        self.file.close()
        self.sock.close()
