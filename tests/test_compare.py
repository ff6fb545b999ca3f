"""`charrnn compare`: several runs' curves from their directories, live, with a legend."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

import pytest
from curves_support import metrics_lines, screen_text, wait_for, write_run
from run_support import charrnn

from engine.errors import CharrnnError
from engine.files import open_regular
from tui import compare
from tui.compare import CompareApp, open_runs, run_compare
from tui.runs.metrics import RunInfo, read_run_info
from tui.widgets.curves import LossCurves


def by_run(curves: LossCurves) -> dict[int, set[str]]:
    drawn: dict[int, set[str]] = {}
    for d in curves.drawn:
        drawn.setdefault(d.run, set()).add(d.kind)
    return drawn


async def test_two_runs_draw_two_labelled_series(tmp_path: Path) -> None:
    gru = write_run(tmp_path, "gru-run", "gru", floor=1.45)
    rnn = write_run(tmp_path, "rnn-run", "rnn-fast", floor=1.7, rate=900)
    app = CompareApp(open_runs([gru, rnn]))
    async with app.run_test(size=(80, 24)) as pilot:
        curves = app.query_one(LossCurves)
        await wait_for(pilot, lambda: "B  rnn-run" in screen_text(app))
        # Both have held-out loss: that is what is drawn first, each line ending in its letter.
        assert by_run(curves) == {
            0: {"held-out", "best", "letter"},
            1: {"held-out", "best", "letter"},
        }
        text = screen_text(app)
        assert "A  gru-run · gru: GRU 256, B64" in text
        assert "B  rnn-run · rnn-fast: RNN 128" in text
        assert "held-out" in text and "nats/char" in text

        await pilot.press("v")  # held-out -> training too
        await wait_for(pilot, lambda: "training" in by_run(curves)[1])
        assert "training (smoothed)" in screen_text(app)


async def test_compare_follows_runs_still_training(tmp_path: Path) -> None:
    done = write_run(tmp_path, "done", "gru", last=3000)
    live = write_run(tmp_path, "live", "lstm", last=1000)
    app = CompareApp(open_runs([done, live]))
    async with app.run_test(size=(80, 24)) as pilot:
        curves = app.query_one(LossCurves)
        await wait_for(pilot, lambda: len(by_run(curves)) == 2)
        assert app.runs[1].metrics.last_iteration == 1000
        more = [
            line for line in metrics_lines(2000, 1.5, 600) if json.loads(line)["iteration"] > 1000
        ]
        with (live / "metrics.jsonl").open("a") as f:
            f.write("\n".join(more) + "\n")
        await wait_for(pilot, lambda: app.runs[1].metrics.last_iteration == 2000)

        def live_row() -> str:
            return next((r for r in screen_text(app).splitlines() if "B  live" in r), "")

        await wait_for(pilot, lambda: " 2k " in live_row())  # the iteration column


async def test_x_axis_can_be_characters_seen_or_training_time(tmp_path: Path) -> None:
    # Runs with different batch and window sizes compare fairly per character or per second.
    a = write_run(tmp_path, "a", "gru")
    b = write_run(tmp_path, "b", "classic")
    app = CompareApp(open_runs([a, b]))
    async with app.run_test(size=(80, 24)) as pilot:
        curves = app.query_one(LossCurves)
        await pilot.press("u")
        await wait_for(pilot, lambda: "characters seen" in screen_text(app))
        await pilot.press("u")
        await wait_for(pilot, lambda: "training time" in screen_text(app))
        await pilot.press("x")
        await wait_for(pilot, lambda: "training time (log scale)" in screen_text(app))
        assert curves.x_axis == "seconds" and curves.log_x


def test_a_run_directory_without_metrics_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CharrnnError) as error:
        open_runs([write_run(tmp_path, "fine", "gru"), empty])
    assert str(error.value) == (
        f"{empty}: no metrics.jsonl (console runs write one; headless runs with --run-dir)"
    )
    with pytest.raises(CharrnnError, match="no such run directory"):
        run_compare([tmp_path / "missing"])
    with pytest.raises(CharrnnError, match="needs at least one run directory"):
        run_compare([])


def test_a_file_of_nothing_but_garbage_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "metrics.jsonl").write_bytes(b"\x00\x01binary\n\x89PNG\n")
    with pytest.raises(CharrnnError) as error:
        open_runs([junk])
    assert str(error.value) == f"{junk}/metrics.jsonl: no readable records (line 1: not JSON)"


async def test_a_corrupt_line_is_skipped_and_said_once(tmp_path: Path, monkeypatch, capsys) -> None:
    good = write_run(tmp_path, "good", "gru")
    cut = write_run(tmp_path, "cut", "gru", extra=['{"iteration": 3100, "lo'])
    with (cut / "metrics.jsonl").open("a") as f:  # the run carried on after the broken line
        f.write('{"iteration": 3100, "loss": 1.6}\n')
    note = f"{cut}/metrics.jsonl: skipped 1 unreadable line (line 39: not JSON)"

    monkeypatch.setattr(compare.CompareApp, "run", lambda self: None)
    assert run_compare([good, cut]) == 0
    assert capsys.readouterr().err == f"charrnn: warning: {note}\n"

    app = CompareApp(open_runs([good, cut]))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: "skipped 1 unreadable line" in screen_text(app))
        assert note in " ".join(screen_text(app).split())  # the note may wrap
        assert app.runs[1].metrics.last_iteration == 3100


# -- hostile run directories ------------------------------------------------------------------


def returns_within(seconds: float, call) -> object:
    """call() in a thread: its result, or a failure if it is still blocked after `seconds`
    (a blocked open() of a FIFO cannot be interrupted; the daemon thread is left behind)."""
    result: list[object] = []

    def body() -> None:
        try:
            result.append(call())
        except Exception as exc:  # raised again in the test's thread
            result.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{call} blocked for {seconds} s"
    if isinstance(result[0], Exception):
        raise result[0]
    return result[0]


def test_a_deeply_nested_line_is_skipped_as_unreadable(tmp_path: Path) -> None:
    """It gave a RecursionError traceback."""
    run = write_run(tmp_path, "deep", "gru", extra=["[" * 100_000, "{" * 50_000 + "}" * 50_000])
    (curves,) = open_runs([run])
    assert curves.source is not None and curves.source.skipped == 2
    assert curves.source.first_skipped == "line 39: not JSON"
    assert curves.metrics.last_iteration == 3000


def test_a_metrics_file_swapped_for_a_fifo_is_never_opened(tmp_path: Path) -> None:
    """The issue's case: compare's UI blocked inside open() and only SIGTERM ended it. Now a
    FIFO in its place is a file that cannot be read: the curves stay as they were."""
    (curves,) = open_runs([write_run(tmp_path, "run", "gru")])
    metrics = tmp_path / "run" / "metrics.jsonl"
    metrics.unlink()
    os.mkfifo(metrics)
    try:
        assert returns_within(5, curves.poll) is False
        assert curves.metrics.last_iteration == 3000
        for given in (metrics, tmp_path / "run"):  # the file, or its run directory
            with pytest.raises(CharrnnError, match=r"metrics\.jsonl: is a named pipe \(FIFO\)"):
                returns_within(5, lambda given=given: open_runs([given]))
    finally:
        release(metrics)


def test_a_run_json_or_checkpoint_that_is_a_fifo_is_never_opened(tmp_path: Path) -> None:
    run = write_run(tmp_path, "run", "gru")
    for name in ("run.json", "latest.npz"):
        (run / name).unlink(missing_ok=True)
        os.mkfifo(run / name)
    try:
        info = returns_within(5, lambda: read_run_info(run))
        assert info == RunInfo()  # nothing known: the legend says so, nothing hangs
        with pytest.raises(CharrnnError, match="is a named pipe"):  # the same open for .npz
            returns_within(5, lambda: open_regular(run / "latest.npz", "a checkpoint"))
    finally:
        release(run / "run.json")
        release(run / "latest.npz")


def release(fifo: Path) -> None:
    """Open a FIFO's writing end once, so that a reader blocked on it (before the fix) goes."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_compare_without_a_terminal_says_so_at_once(tmp_path: Path) -> None:
    """It ran forever with stdin not a terminal; now the console's guard: one line, exit 2."""
    run = write_run(tmp_path, "run", "gru")
    done = charrnn("compare", str(run), cwd=tmp_path, timeout=60)  # stdin is /dev/null
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "the console needs a terminal on stdin" in done.stderr
