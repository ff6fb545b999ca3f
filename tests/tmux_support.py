"""tmux for end-to-end tests: a private server, sessions at 80x24, reading the screen."""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

CHARRNN = Path(sys.executable).with_name("charrnn")  # the venv's console script


def start(tmux, tmp_path: Path, argv: str, command: str | None = None) -> None:
    """Run `charrnn argv` (or a whole shell `command`) in a new 80x24 session; the shell then
    prints its exit status."""
    line = command or f"{shlex.quote(str(CHARRNN))} {argv}"
    shell = f"cd {shlex.quote(str(tmp_path))} && {line}; echo EXIT=$?; sleep 60"
    env = ["-e", "TERM=xterm-256color"]
    tmux("new-session", "-d", "-s", "e2e", "-x", "80", "-y", "24", *env, "sh", "-c", shell)


def find_pid(matches: Callable[[list[bytes]], bool], what: str) -> int:
    """The pid of the process whose command line (argv) `matches`."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if matches(argv):
            return int(proc.name)
    raise AssertionError(f"no process found: {what}")


def charrnn_pid(run: Path) -> int:
    """The pid of the charrnn process training into `run`."""
    return find_pid(
        lambda argv: any(a.endswith(b"charrnn") for a in argv[:2]) and str(run).encode() in argv,
        f"charrnn for {run}",
    )


def screen(tmux) -> str:
    return tmux("capture-pane", "-p", "-t", "e2e")


def wait_screen(tmux, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        shown = screen(tmux)
        if text in shown:
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared; the screen shows:\n{shown}")
        time.sleep(0.1)


def wait_iteration(tmux, at_least: int, timeout: float = 30.0) -> str:
    """Wait until the status line's iteration counter reaches `at_least`."""
    deadline = time.monotonic() + timeout
    while True:
        shown = screen(tmux)
        found = (
            re.search(r"iter ([\d,]+) ", shown.split("running")[-1]) if "running" in shown else None
        )
        if found and int(found.group(1).replace(",", "")) >= at_least:
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"iteration {at_least} never reached; the screen shows:\n{shown}")
        time.sleep(0.1)


def wait_until(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
