"""A detached run's edges: how it ends when its socket cannot be removed, what a viewer says
of a run that does not answer, that finished, or that turned it away, long directory names,
files planted at control.sock, and viewers that misbehave while the run has news for them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from console_support import SIZE, press, wait_for
from run_support import (
    TINY_FLAGS,
    Viewer,
    alive,
    charrnn,
    run_pid,
    start_detached,
    stop_run,
    wait_until,
)
from system_programs import program

from tui.app import ConsoleApp
from tui.cli import attach as attach_command
from tui.cli import main
from tui.cli.attach import leaving_line
from tui.links import SocketLink
from tui.runs.protocol import (
    Pause,
    PausedChanged,
    Progress,
    Resume,
    TrainerInfo,
    Welcome,
    encode,
)
from tui.runs.rundir import RunDir
from tui.runs.status import describe_state, read_status


def wait_gone(pid: int, timeout: float = 30) -> None:
    wait_until(lambda: not alive(pid), f"pid {pid} to exit", timeout)


@contextlib.contextmanager
def read_only(path: Path):
    """`path` (a directory) made read-only for this test: chmod for a user; for root, whom
    modes do not stop, the immutable attribute."""
    if os.geteuid() == 0:
        chattr = program("chattr", "e2fsprogs")
        subprocess.run([chattr, "+i", str(path)], check=True)
        undo = [chattr, "-i", str(path)]
    else:
        mode = path.stat().st_mode
        path.chmod(0o500)
        undo = None
    try:
        with pytest.raises(PermissionError):
            (path / "probe").touch()
        yield
    finally:
        if undo:
            subprocess.run(undo, check=True)
        else:
            path.chmod(mode)


def test_shutdown_when_control_sock_became_a_directory_is_one_line(detached):
    pid = run_pid(detached)
    detached.socket.unlink()
    detached.socket.mkdir()
    os.kill(pid, signal.SIGTERM)
    wait_gone(pid)
    log = detached.log.read_text()
    assert "Traceback" not in log
    assert "charrnn: warning: run/control.sock is no longer this run's socket; left as it is" \
           in log.splitlines()  # fmt: skip
    assert detached.socket.is_dir()  # not ours: left alone
    assert read_status(detached)["state"] == "stopped"
    assert describe_state(detached) == ("stopped", "")


def test_shutdown_in_a_read_only_run_directory_is_one_line_and_records_the_end(detached):
    pid = run_pid(detached)
    with read_only(detached.path):
        os.kill(pid, signal.SIGTERM)
        wait_gone(pid)
    log = detached.log.read_text()
    assert "Traceback" not in log
    why = "Operation not permitted" if os.geteuid() == 0 else "Permission denied"
    warnings = [line for line in log.splitlines() if line.startswith("charrnn: warning:")]
    assert warnings == [f"charrnn: warning: could not remove run/control.sock: {why}"]
    errors = [line for line in log.splitlines() if line.startswith("charrnn: error:")]
    assert len(errors) == 1 and errors[0].startswith("charrnn: error: not saved to")
    status = read_status(detached)
    assert status["state"] == "stopped"  # rewritten in place: the directory took no new file
    assert status["reason"].startswith("not saved to")
    assert describe_state(detached)[0] == "stopped"


async def test_a_stopped_process_is_said_not_to_answer(detached, monkeypatch):
    """SIGSTOP froze the run: the console once showed "running iter 0" forever."""
    monkeypatch.setattr("tui.links.NOT_ANSWERING", 1.5, raising=False)
    pid = run_pid(detached)
    try:
        app = ConsoleApp(SocketLink(detached.socket), detached)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.status.iteration > 0)
            os.kill(pid, signal.SIGSTOP)
            await wait_for(pilot, lambda: "has not answered" in app.message_line.text)
            assert f"pid {pid}" in app.message_line.text
            assert f"kill -CONT {pid}" in app.message_line.text
            os.kill(pid, signal.SIGCONT)
            await wait_for(pilot, lambda: app.message_line.text == "the run answers again")
            await press(pilot, "q")
        os.kill(pid, signal.SIGSTOP)  # before a viewer connects: it never hears a word
        app = ConsoleApp(SocketLink(detached.socket), detached)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "has not answered" in app.message_line.text)
            await press(pilot, "q")
            await wait_for(pilot, lambda: app.outcome == "detach")
        line, status = leaving_line(app, detached, pid)
        assert line == (f"the run never answered (pid {pid}): it may be stopped (kill -CONT "
                        f"{pid} resumes it); nothing was changed")  # fmt: skip
        assert status == 1
    finally:
        os.kill(pid, signal.SIGCONT)


def test_attaching_as_the_run_finishes_says_it_finished(tmp_path, monkeypatch, capsys):
    """Attached as the run reached its --iters, attach said "no longer reachable (the run
    ended)" and exited 1."""
    run_dir = start_detached(tmp_path, "--iters", "10000")
    holder = Viewer(run_dir)  # holds the run paused until the console is attached
    try:
        holder.send(Pause())
        holder.wait_for(lambda e: isinstance(e, PausedChanged) and e.paused)

        async def resume_once_attached(pilot) -> None:
            await wait_for(pilot, lambda: pilot.app.status.iteration > 0)
            holder.send(Resume())

        def run_headless(self: ConsoleApp):
            return super(ConsoleApp, self).run(
                headless=True, size=SIZE, auto_pilot=resume_once_attached
            )

        monkeypatch.setattr(ConsoleApp, "run", run_headless)
        monkeypatch.setattr(attach_command, "require_terminal", lambda instead: None)
        monkeypatch.chdir(tmp_path)
        assert main(["attach", "run"]) == 0
    finally:
        holder.close()
        stop_run(run_dir)
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "the run finished at iteration 10,000; its state is in run/latest.npz"
    )


def test_a_long_run_directory_trains_detached_and_answers(tmp_path):
    """A socket path over the 107 bytes of AF_UNIX once failed the start ("AF_UNIX path too
    long") and left a directory listed as crashed."""
    name = "runs/" + "a-long-directory-name-" * 4 + "/run"
    run_dir = RunDir(tmp_path / name)
    assert len(os.fsencode(run_dir.socket)) > 108
    start_detached(tmp_path, name=name)
    try:
        viewer = Viewer(run_dir)
        assert isinstance(viewer.next_event(), Welcome)
        viewer.wait_for(lambda e: isinstance(e, Progress))
        viewer.close()
        assert describe_state(run_dir) == ("live", "")
    finally:
        stop_run(run_dir)
    assert not run_dir.socket.exists()
    assert read_status(run_dir)["state"] == "stopped"


class Impostor:
    """A socket that is not the run's, answering with a Welcome of its own."""

    def __init__(self, path: Path) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen()
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        info = TrainerInfo("impostor", "fake", 1, 1.0, 0.0, [])
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                self.accepted += 1
                conn.sendall(encode(Welcome(info, False, 1.0, 200)))

    def close(self) -> None:
        self.server.close()


@pytest.mark.parametrize("planted", ["link", "socket"])
async def test_a_socket_planted_at_control_sock_never_redirects_a_viewer(detached, tmp_path,
                                                                         planted):  # fmt: skip
    real = detached.path / "real.sock"
    os.rename(detached.socket, real)  # the run still listens there
    if planted == "link":
        impostor = Impostor(tmp_path / "impostor.sock")
        detached.socket.symlink_to(tmp_path / "impostor.sock")
    else:
        impostor = Impostor(detached.socket)
    try:
        app = ConsoleApp(SocketLink(detached.socket), detached)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.outcome == "lost")
        assert app.status.summary != "impostor"  # nothing it said reached the screen
        why = "is a symbolic link" if planted == "link" else "not by the run's process"
        assert why in app.outcome_reason
        if planted == "link":
            assert impostor.accepted == 0
    finally:
        impostor.close()
        detached.socket.unlink()
        os.rename(real, detached.socket)


def test_runs_reads_past_a_fifo_put_at_run_json(tmp_path):
    """run.json replaced by a named pipe once hung `charrnn runs` in open()."""
    run_dir = RunDir(tmp_path / "runs" / "piped").create()
    run_dir.latest.write_bytes(b"")
    os.mkfifo(run_dir.status_file)
    done = charrnn("runs", "runs", cwd=tmp_path, timeout=20)
    assert done.returncode == 0
    assert "stopped (no run.json)" in done.stdout


def test_a_viewer_writing_an_oversized_line_with_news_queued_is_dropped_at_once(detached):
    """A viewer that stops reading, lets the run's news queue up past what the kernel holds,
    then writes a line longer than any message: the run must drop it at once. It used to
    close it gracefully, waiting to deliver the queue to a viewer blocked writing, so both
    waited (the 20 s TimeoutError of test_garbage_on_the_socket_is_ignored on a loaded
    machine)."""
    bad, watcher = Viewer(detached), Viewer(detached)
    assert isinstance(bad.next_event(), Welcome) and isinstance(watcher.next_event(), Welcome)
    kernel_holds = bad.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    heard = 0
    while heard < 2 * kernel_holds:  # the same news went to `bad`, which read none of it
        heard += len(encode(watcher.next_event()))
    bad.sock.settimeout(10)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        bad.send_raw(b"x" * (2 << 20) + b"\n")
    with contextlib.suppress(ConnectionResetError), pytest.raises(EOFError):
        while True:
            bad.next_event()
    watcher.send(Pause())  # the run goes on serving the others
    assert watcher.wait_for(lambda e: isinstance(e, PausedChanged)).paused
    watcher.close()
    bad.close()
    assert alive(run_pid(detached))


def test_runs_and_attach_say_nothing_of_a_planted_fifo_lock(tmp_path):
    """A FIFO at R/lock must not hang a probe either; no run can own through it."""
    run_dir = RunDir(tmp_path / "runs" / "fifo").create()
    run_dir.latest.write_bytes(b"")
    os.mkfifo(run_dir.lock)
    done = charrnn("runs", "runs", cwd=tmp_path, timeout=20)
    assert done.returncode == 0 and "stopped (no run.json)" in done.stdout
    done = charrnn("train", "blog_sample", "--headless", "--run-dir", "runs/fifo", "--iters",
                   "3", *TINY_FLAGS, cwd=tmp_path, timeout=20)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"charrnn: error: {Path('runs/fifo/lock')}: is not a regular file, so it cannot be the "
        "lock; remove it"
    ]


def test_a_file_at_control_sock_is_never_deleted_by_a_starting_run(tmp_path):
    """A run removes a stale socket (or link) left at control.sock; anything else may be
    someone's file: the start is refused in one line and the file kept."""
    run_dir = start_detached(tmp_path)
    stop_run(run_dir)
    run_dir.socket.write_text("my notes\n")
    done = charrnn("train", "blog_sample", "--detach", "--run-dir", "run", *TINY_FLAGS,
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "charrnn: error: the background run did not start: run/control.sock: exists and is "
        "not a socket; move it away and start again"
    ]
    assert run_dir.socket.read_text() == "my notes\n"
    assert read_status(run_dir)["state"] == "stopped"  # not made to say live
