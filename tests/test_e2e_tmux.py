"""End to end: the real `charrnn` command in a detached tmux at 80x24, driven by keys."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import checkpoint

CHARRNN = Path(sys.executable).with_name("charrnn")  # the venv's console script


@pytest.fixture
def tmux(tmp_path):
    """A private tmux server (its own socket), killed afterwards."""
    assert shutil.which("tmux"), "tmux is needed for the end-to-end tests (.ci/run installs it)"
    socket = f"charrnn-e2e-{os.getpid()}-{tmp_path.name}"

    def run(*args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10
        )
        return done.stdout

    yield run
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


def start(tmux, tmp_path: Path, argv: str) -> None:
    """Run `charrnn argv` in a new 80x24 session; the shell then prints its exit status."""
    shell = (
        f"cd {shlex.quote(str(tmp_path))} && "
        f"{shlex.quote(str(CHARRNN))} {argv}; echo EXIT=$?; sleep 60"
    )
    env = ["-e", "TERM=xterm-256color"]
    tmux("new-session", "-d", "-s", "e2e", "-x", "80", "-y", "24", *env, "sh", "-c", shell)


def charrnn_pid(run: Path) -> int:
    """The pid of the charrnn process training into `run` (found by its command line)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"charrnn") for a in argv[:2]) and str(run).encode() in argv:
            return int(proc.name)
    raise AssertionError(f"no charrnn process for {run}")


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


def test_console_keys_save_and_quit_in_tmux(tmux, tmp_path):
    run = tmp_path / "run"
    start(tmux, tmp_path, f"train --run-dir {run}")
    wait_screen(tmux, "── iter ")  # samples are arriving
    shown = wait_iteration(tmux, 101)
    assert "▶ running" in shown and "tinyshakespeare" in shown and "rnn 100" in shown

    tmux("send-keys", "-t", "e2e", "space")
    wait_screen(tmux, "⏸ paused")
    tmux("send-keys", "-t", "e2e", "+")
    wait_screen(tmux, "T 1.1")
    tmux("send-keys", "-t", "e2e", "s")
    wait_screen(tmux, "Save a checkpoint to")
    tmux("send-keys", "-t", "e2e", "Enter")
    shown = wait_screen(tmux, "saved iteration")
    assert f"{run}/model.npz" in shown.replace("\n", "") or "model.npz" in shown
    saved = checkpoint.load(run / "model.npz")

    tmux("send-keys", "-t", "e2e", "q")
    shown = wait_screen(tmux, "EXIT=", timeout=10)
    assert "EXIT=0" in shown
    assert "saved iteration" in shown and "latest.npz" in shown
    latest = checkpoint.load(run / "latest.npz")
    assert latest.iteration == saved.iteration > 100  # paused: nothing trained in between
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) >= 2


def test_sighup_saves_a_resumable_state(tmux, tmp_path):
    run = tmp_path / "run"
    start(tmux, tmp_path, f"train --run-dir {run} --autosave-minutes 0")
    wait_screen(tmux, "── iter ")
    wait_iteration(tmux, 200)
    pid = charrnn_pid(run)
    tmux("kill-session", "-t", "e2e")  # what an SSH drop does: the terminal hangs up
    wait_until(lambda: not alive(pid), "charrnn to exit after SIGHUP", timeout=15)
    state = checkpoint.load(run / "latest.npz")
    assert state.iteration >= 200

    resume = ["--resume", str(run / "latest.npz"), "--headless", "--iters", "3"]
    resumed = subprocess.run(
        [str(CHARRNN), "train", *resume, "--log-every", "1", "--sample-every", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"iter {state.iteration}, loss:" in resumed.stdout


def test_sigterm_saves_too(tmux, tmp_path):
    run = tmp_path / "run"
    start(tmux, tmp_path, f"train blog_sample --run-dir {run}")
    wait_screen(tmux, "── iter ")
    wait_iteration(tmux, 100)
    pid = charrnn_pid(run)
    os.kill(pid, signal.SIGTERM)
    shown = wait_screen(tmux, "EXIT=", timeout=15)
    assert f"EXIT={128 + signal.SIGTERM}" in shown
    assert checkpoint.load(run / "latest.npz").iteration >= 100
