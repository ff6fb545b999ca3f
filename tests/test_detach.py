"""Runs that outlive the terminal: --detach, attach (Pilot over the socket), viewers, signals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
import subprocess
import sys

import numpy as np
import pytest
from console_support import SIZE, fill, press, wait_for
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

from engine import checkpoint
from tui.app import ConsoleApp
from tui.cli import main
from tui.cli import train as train_command
from tui.cli.train_args import TrainArgs
from tui.links import SocketLink
from tui.runs.protocol import (
    Pause,
    PausedChanged,
    Progress,
    Resume,
    SampleReady,
    Saved,
    SnapshotReady,
    TemperatureChanged,
    Welcome,
)
from tui.runs.rundir import RunDir
from tui.runs.status import read_status
from tui.screens import ConfirmScreen, HelpScreen, LoadDialog, PrimeDialog, SaveDialog
from tui.screens.inspect import InspectScreen


def progress_iteration(viewer: Viewer) -> int:
    return viewer.wait_for(lambda e: isinstance(e, Progress)).iteration  # type: ignore[union-attr]


def test_detach_returns_at_once_with_an_owner_only_socket(detached):
    mode = stat.S_IMODE(os.stat(detached.socket).st_mode)
    assert mode == 0o600
    assert detached.log.exists()
    viewer = Viewer(detached)
    welcome = viewer.next_event()
    assert isinstance(welcome, Welcome) and "rnn 8" in welcome.info.summary
    first = progress_iteration(viewer)
    assert progress_iteration(viewer) > first  # training goes on with nobody watching the screen
    viewer.close()


async def step_and_see_its_window(pilot, app: ConsoleApp, watcher: Viewer) -> None:
    """One observed step of the paused run, seen by both viewers; the step's window travels
    in the snapshot file, so this viewer (another process) shows the run's own window and
    measures its gradient through time."""
    await press(pilot, "full_stop")
    stepped = await asyncio.to_thread(
        watcher.wait_for, lambda e: isinstance(e, SnapshotReady) and e.stats is not None
    )
    await wait_for(pilot, lambda: app.screen.stats is not None)
    assert app.screen.stats.iteration == stepped.stats["iteration"]
    window = stepped.stats["window"]
    await press(pilot, "w")
    await wait_for(pilot, lambda: app.screen.view == "window")
    shown = app.screen.backprop.record.window
    assert shown.taken and shown.to_dict() == window
    await press(pilot, "b")
    await wait_for(pilot, lambda: app.screen.view == "through")
    assert app.screen.backprop.measured()[1].inputs == shown.streams[0].inputs


async def test_attach_drives_every_key_over_the_socket(detached, tmp_path):
    watcher = Viewer(detached)  # a second viewer sees what the first one does
    assert isinstance(watcher.next_event(), Welcome)
    app = ConsoleApp(SocketLink(detached.socket), detached)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 0)
        assert "rnn 8" in app.status.summary
        await press(pilot, "space")
        await wait_for(pilot, lambda: app.run_state == "paused")
        seen = await asyncio.to_thread(watcher.wait_for, lambda e: isinstance(e, PausedChanged))
        assert seen.paused  # the pause from one viewer reaches the other
        await press(pilot, "i")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
        await step_and_see_its_window(pilot, app, watcher)
        await press(pilot, "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, InspectScreen))
        await press(pilot, "plus")
        await asyncio.to_thread(watcher.wait_for, lambda e: isinstance(e, TemperatureChanged))
        assert app.temperature == pytest.approx(1.1)
        await press(pilot, "n")
        sample = await asyncio.to_thread(watcher.wait_for, lambda e: isinstance(e, SampleReady))
        assert sample.temperature == pytest.approx(1.1) and sample.requested
        await press(pilot, "p")
        await wait_for(pilot, lambda: isinstance(app.screen, PrimeDialog))
        await fill(pilot, "#prime-text", "bye")
        await press(pilot, "enter")
        primed = await asyncio.to_thread(
            watcher.wait_for, lambda e: isinstance(e, SampleReady) and e.prime == "bye"
        )
        assert primed.text.startswith("bye")
        await press(pilot, "s")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveDialog))
        await fill(pilot, "#save-path", str(tmp_path / "mine.npz"))
        await press(pilot, "enter")
        saved = await asyncio.to_thread(watcher.wait_for, lambda e: isinstance(e, Saved))
        assert saved.path == str(tmp_path / "mine.npz")
        await wait_for(pilot, lambda: "saved iteration" in app.message_line.text)
        await press(pilot, "l")
        await wait_for(pilot, lambda: isinstance(app.screen, LoadDialog))
        await fill(pilot, "#load-path", str(tmp_path / "mine.npz"))
        await press(pilot, "enter")
        await wait_for(pilot, lambda: "loaded" in app.message_line.text)
        await press(pilot, "question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert any("goes on training" in (b.tooltip or "") for b in app.screen.keys)
        await press(pilot, "escape")
        await press(pilot, "space")
        await wait_for(pilot, lambda: app.run_state == "running")
        await press(pilot, "q")
        await wait_for(pilot, lambda: app.outcome == "detach")
    assert app.outcome == "detach"
    # Leaving never stops the run: it still answers and still trains.
    first = progress_iteration(watcher)
    assert progress_iteration(watcher) > first
    watcher.close()


async def test_stop_from_a_viewer_is_confirmed_and_saves_latest(detached):
    app = ConsoleApp(SocketLink(detached.socket), detached)
    pid = run_pid(detached)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 0)
        await press(pilot, "Q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await press(pilot, "n")  # asked, refused: nothing happens
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.3)
        assert alive(pid)
        await press(pilot, "Q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await press(pilot, "y")
        await wait_for(pilot, lambda: app.outcome == "stopped" and app.return_code is not None)
    wait_until(lambda: not alive(pid), "the run to end")
    assert checkpoint.load(detached.latest).iteration > 0
    assert not detached.socket.exists()
    assert read_status(detached)["state"] == "stopped"


def test_a_killed_viewer_never_disturbs_training(detached):
    script = (
        "import socket, sys, time\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        's.sendall(b\'{"v": 1, "type": "Sam\')\n'  # killed in the middle of a message
        "time.sleep(60)\n"
    )
    viewer_process = subprocess.Popen([sys.executable, "-c", script, str(detached.socket)])
    watcher = Viewer(detached)
    before = progress_iteration(watcher)
    viewer_process.send_signal(signal.SIGKILL)
    viewer_process.wait(10)
    after = progress_iteration(watcher)
    assert progress_iteration(watcher) > after >= before
    watcher.close()


def test_garbage_on_the_socket_is_ignored(detached):
    bad = Viewer(detached)
    for line in (b"garbage\n", b"[1, 2]\n", b'{"v": 1, "type": "Nope"}\n',
                 b'{"v": 99, "type": "Pause"}\n', b'{"v": 1, "type": "Stop", "save": 1, "x": 2}\n',
                 b'{"v": 1, "type": "Welcome"}\n', b"\xff\xfe\n"):  # fmt: skip
        bad.send_raw(line)
    watcher = Viewer(detached)
    first = progress_iteration(watcher)
    assert progress_iteration(watcher) > first  # none of it paused or stopped the run
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        bad.send_raw(b"x" * (2 << 20) + b"\n")  # longer than any message: the run hangs up
    with pytest.raises((EOFError, ConnectionResetError)):
        while True:
            bad.next_event()  # what was queued for it, then the end
    assert progress_iteration(watcher) > first
    watcher.send(Pause())  # a well-formed command still works
    assert watcher.wait_for(lambda e: isinstance(e, PausedChanged)).paused
    watcher.send(Resume())
    bad.close()
    watcher.close()


def test_reattaching_shows_the_history_and_recent_samples(detached):
    first = Viewer(detached)
    first.next_event()
    first.wait_for(lambda e: isinstance(e, Progress) and e.iteration > 120)
    first.close()
    again = Viewer(detached)
    welcome = again.next_event()
    assert isinstance(welcome, Welcome)
    assert welcome.info.iteration > 120 and len(welcome.info.history) > 10
    assert welcome.samples and all(s.iteration % 50 == 0 for s in welcome.samples)
    logged = [json.loads(line) for line in detached.samples.read_text().splitlines()]
    by_iteration = {r["iteration"]: r["text"] for r in logged}
    shown = [s for s in welcome.samples if s.iteration in by_iteration]
    assert shown and all(by_iteration[s.iteration] == s.text for s in shown)
    again.close()


def test_sigterm_saves_a_loadable_latest_and_removes_the_socket(detached):
    viewer = Viewer(detached)
    viewer.wait_for(lambda e: isinstance(e, Progress) and e.iteration > 50)
    viewer.close()
    pid = run_pid(detached)
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not alive(pid), "the run to exit after SIGTERM")
    assert checkpoint.load(detached.latest).iteration > 50
    assert not detached.socket.exists()
    assert read_status(detached)["state"] == "stopped"
    assert "saved iteration" in detached.log.read_text()


def test_a_second_detach_on_a_live_run_is_refused(detached, tmp_path):
    done = charrnn("train", "blog_sample", "--detach", "--run-dir", "run", *TINY_FLAGS,
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"charrnn: error: run already has a live run (pid {run_pid(detached)}); "
        "attach with: charrnn attach run"
    ]


def test_attach_to_a_dead_run_says_so_and_offers_resume(detached, tmp_path):
    stop_run(detached)
    done = charrnn("attach", "run", cwd=tmp_path)
    assert done.returncode == 2
    assert "the run is stopped" in done.stderr and "--resume run/latest.npz" in done.stderr
    done = charrnn("attach", cwd=tmp_path)  # no live run under runs/
    assert done.returncode == 2 and "no live run under runs/" in done.stderr
    done = charrnn("attach", "nowhere", cwd=tmp_path)
    assert done.returncode == 2 and "nowhere: no such run directory" in done.stderr


def test_a_failing_background_start_is_one_line(tmp_path):
    done = charrnn("train", str(tmp_path / "missing.txt"), "--detach", "--run-dir", "r",
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"charrnn: error: the background run did not start: {tmp_path / 'missing.txt'}: "
        "no such file"
    ]


def test_runs_lists_live_stopped_and_crashed_runs(tmp_path):
    live = start_detached(tmp_path, name="runs/live")
    stopped = start_detached(tmp_path, name="runs/stopped")
    crashed = start_detached(tmp_path, name="runs/crashed")
    try:
        for run_dir in (live, stopped, crashed):
            wait_until(lambda r=run_dir: read_status(r)["iteration"] > 0, "a status update")
        stop_run(stopped)
        stop_run(crashed, signal.SIGKILL)  # no chance to say goodbye: run.json still says live
        assert read_status(crashed)["state"] == "live"
        done = charrnn("runs", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
        assert set(rows) == {"live", "stopped", "crashed"}
        assert " live " in rows["live"] and "rnn 8" in rows["live"]
        assert "stopped" in rows["stopped"]
        assert "crashed (process gone)" in rows["crashed"]
        assert "live" not in rows["crashed"].split()[1]
    finally:
        stop_run(live)


def test_d_continues_in_the_background_to_the_same_iteration_and_save(tmp_path, monkeypatch):
    """A console started with --iters and --save, moved to the background with d, stops at
    the same iteration and writes the same --save, bit for bit, as the run without d."""
    flags = ["blog_sample", "--hidden", "8", "--seq-length", "8", "--layers", "2",
             "--dropout", "0.1", "--sample-every", "50", "--iters", "3000"]  # fmt: skip
    straight, moved = tmp_path / "straight.npz", tmp_path / "moved.npz"
    assert main(["train", *flags, "--headless", "--save", str(straight)]) == 0

    async def detach_once_training(pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.status.iteration > 30)
        await press(pilot, "d")

    def run_headless(self: ConsoleApp):
        return super(ConsoleApp, self).run(
            headless=True, size=SIZE, auto_pilot=detach_once_training
        )

    monkeypatch.setattr(ConsoleApp, "run", run_headless)
    monkeypatch.setattr(train_command, "require_terminal", lambda instead: None)
    run_dir = RunDir(tmp_path / "run")
    args = TrainArgs.parse([*flags, "--save", str(moved), "--run-dir", str(run_dir.path)])
    try:
        assert train_command.train(args) == 0  # the console, then the background run
        detached_at = checkpoint.load(run_dir.latest).iteration
        assert 30 < detached_at < 3000
        wait_until(lambda: read_status(run_dir)["state"] != "live", "the run to finish", 120)
    finally:
        stop_run(run_dir)
    assert read_status(run_dir)["state"] == "finished"
    want, got = checkpoint.load(straight), checkpoint.load(moved)
    assert got.iteration == want.iteration == 3000
    assert checkpoint.load(run_dir.latest).iteration == 3000
    for name, weights in want.group("param/").items():
        np.testing.assert_array_equal(got.group("param/")[name], weights, err_msg=name)


def test_d_at_the_end_of_iters_saves_and_starts_no_background_run(tmp_path, monkeypatch, capsys):
    async def detach_when_paused_at_iters(pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.run_state == "paused")
        await press(pilot, "d")

    def run_headless(self: ConsoleApp):
        return super(ConsoleApp, self).run(
            headless=True, size=SIZE, auto_pilot=detach_when_paused_at_iters
        )

    monkeypatch.setattr(ConsoleApp, "run", run_headless)
    monkeypatch.setattr(train_command, "require_terminal", lambda instead: None)
    saved, run_dir = tmp_path / "m.npz", RunDir(tmp_path / "run")
    args = TrainArgs.parse(["blog_sample", *TINY_FLAGS, "--iters", "60", "--save", str(saved),
                            "--run-dir", str(run_dir.path)])  # fmt: skip
    assert train_command.train(args) == 0
    assert checkpoint.load(saved).iteration == checkpoint.load(run_dir.latest).iteration == 60
    assert read_status(run_dir)["state"] == "stopped" and not run_dir.log.exists()
    assert f"saved iteration 60 to {saved}" in capsys.readouterr().err
