"""The session worker and the panels: batching, metrics, autosave, scrolling, bounds."""

from __future__ import annotations

import asyncio
import errno
import json
import math
import re
import threading
import time

import numpy as np
import pytest
from console_support import SIZE, TINY, make_app, make_session, press, tiny_trainer, wait_for

import corpora
from engine import checkpoint
from engine.trainer import Trainer
from tui import cli
from tui.links import InProcessLink
from tui.runs import session as session_module
from tui.runs.protocol import Pause, PausedChanged, Progress, Sample, SampleReady, Saved, Stop
from tui.widgets.loss_panel import PLOT_INTERVAL, WINDOW


def status_row(app) -> str:
    """The status line's first row as it is on screen (80x24): what a user reads."""
    rows = [strip.text for strip in app.screen._compositor.render_strips()]
    return next(row for row in rows if " iter " in row)


def run_session(tmp_path, seconds: float, **settings):
    """Run a Session in a plain thread for `seconds`, collecting what it posts."""
    posted: list = []
    session = make_session(tmp_path, post=posted.append, **settings)
    thread = threading.Thread(target=session.train)
    thread.start()
    time.sleep(seconds)
    return session, thread, posted


def test_progress_is_batched_and_loses_no_step(tmp_path):
    start = time.perf_counter()
    session, thread, posted = run_session(tmp_path, 1.0, sample_every=0, report_interval=0.1)
    session.send(Stop())
    thread.join(5)
    took = time.perf_counter() - start
    progress = [m for m in posted if isinstance(m, Progress)]
    trained = session.trainer.iteration
    assert trained > 100
    assert sum(len(p.losses) for p in progress) == trained  # every step's loss arrives
    assert len(progress) <= took * 10 + 2  # at most ~10 messages a second
    assert progress[-1].iteration == trained


def test_a_paused_session_stops_at_once_and_saves(tmp_path, monkeypatch):
    # A paused worker that slept its idle wait out would not see Stop for ten minutes.
    monkeypatch.setattr(session_module, "IDLE_WAIT", 600.0)
    session, thread, posted = run_session(tmp_path, 0.3, sample_every=0)
    session.send(Pause())
    deadline = time.monotonic() + 30
    while not any(isinstance(m, PausedChanged) for m in list(posted)):
        assert time.monotonic() < deadline, "the session never paused"
        time.sleep(0.01)
    time.sleep(0.2)  # the worker is idle now, waiting for a command
    session.send(Stop())
    thread.join(60)
    assert not thread.is_alive()  # Stop woke it: it waits on an event, never a plain sleep
    assert session.exit_report.path == tmp_path / "latest.npz"
    assert any(isinstance(m, Saved) and m.reason == "exit" for m in posted)


def test_commands_apply_in_order_between_steps(tmp_path):
    session, thread, posted = run_session(tmp_path, 0.2, sample_every=0, sample_length=30)
    session.send(Pause())
    session.send(Sample(30, prime="bye"))
    session.send(Stop(save=False))
    thread.join(5)
    samples = [m for m in posted if isinstance(m, SampleReady)]
    assert len(samples) == 1 and samples[0].text.startswith("bye")
    assert len(samples[0].text) == 33
    assert session.exit_report.path is None
    assert not (tmp_path / "latest.npz").exists()


def test_a_full_disk_is_reported_and_training_goes_on(tmp_path, monkeypatch):
    def full(trainer, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "save", full)
    app = make_app(tmp_path / "run")

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await press(pilot, "s", "enter")
            await wait_for(pilot, lambda: "save failed" in app.message_line.text)
            assert "No space left on device" in app.message_line.text
            before = app.status.iteration
            await wait_for(pilot, lambda: app.status.iteration > before)
            monkeypatch.undo()

    asyncio.run(go())


async def test_metrics_jsonl_records_iteration_loss_speed_and_time(tmp_path):
    run = tmp_path / "run"
    app = make_app(run, sample_every=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 350)
        await press(pilot, "q")
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in lines[:4]] == [0, 100, 200, 300]
    for record in lines:
        assert set(record) >= {"iteration", "loss", "chars_per_s", "time"}
        assert math.isfinite(record["loss"]) and record["loss"] > 0
    assert lines[3]["loss"] < lines[0]["loss"]  # it learns
    assert lines[3]["chars_per_s"] > 0
    assert lines[3]["time"] > lines[1]["time"]


async def test_autosave_writes_latest_while_training(tmp_path):
    run = tmp_path / "run"
    app = make_app(run, autosave_seconds=0.3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "autosaved" in app.message_line.text)
        assert checkpoint.load(run / "latest.npz").iteration > 0
        first = checkpoint.load(run / "latest.npz").iteration
        await wait_for(pilot, lambda: checkpoint.load(run / "latest.npz").iteration > first)


async def test_iters_pauses_at_that_iteration(tmp_path):
    app = make_app(tmp_path / "run", pause_at=120)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.state == "paused")
        await pilot.pause(0.2)
        assert app.session.trainer.iteration == 120 == app.status.iteration
        assert "reached iteration 120" in app.message_line.text
        await press(pilot, "space")
        await wait_for(pilot, lambda: app.status.iteration > 130)


async def test_samples_panel_follows_new_samples_but_not_when_scrolled_back(tmp_path):
    app = make_app(tmp_path / "run", start_paused=True, sample_length=120)
    async with app.run_test(size=SIZE) as pilot:
        log = app.samples
        for _ in range(6):
            await press(pilot, "n")
        await wait_for(pilot, lambda: log.count == 6)
        await pilot.pause(0.1)
        assert log.max_scroll_y > 0
        assert log.scroll_y == log.max_scroll_y  # following
        log.scroll_home(animate=False)
        await pilot.pause(0.05)
        await press(pilot, "n")
        await wait_for(pilot, lambda: log.count == 7)
        await pilot.pause(0.1)
        assert log.scroll_y == 0  # the reader's place is kept
        log.scroll_end(animate=False)
        await pilot.pause(0.05)
        await press(pilot, "n")
        await wait_for(pilot, lambda: log.count == 8)
        await pilot.pause(0.1)
        assert log.scroll_y == log.max_scroll_y  # back at the end: follows again


async def test_sparkline_keeps_a_bounded_window_of_finite_points(tmp_path):
    app = make_app(tmp_path / "run", start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.loss_panel
        before = panel.sparkline.data
        for i in range(WINDOW + 50):
            panel.add([3.0 - i / 1000, float("nan")], 2.0 - i / 1000)
        await asyncio.sleep(PLOT_INTERVAL)  # the plot redraws at most this often
        panel.add([float("inf")], float("nan"))
        await pilot.pause()
        data = panel.sparkline.data
        assert data is not before
        assert len(panel.points) == WINDOW  # bounded memory
        # One point per column, newest at the right: the plot scrolls rather than squashes.
        width = panel.sparkline.size.width
        assert 60 < width < 80
        assert data == list(panel.points)[-width:]
        assert np.all(np.isfinite(data))
        assert data[-1] == pytest.approx(3.0 - (WINDOW + 49) / 1000)  # newest on the right
        assert "best 1.6510" in panel.figures()
        assert "bits" in panel.figures() and "scale" in panel.figures()


async def test_loss_panel_shows_a_validation_figure_when_reported(tmp_path):
    app = make_app(tmp_path / "run", start_paused=True)
    async with app.run_test(size=SIZE):
        app.loss_panel.add([2.0], 2.0, val_loss=2.25)
        assert "val 2.2500" in app.loss_panel.figures()
        app.loss_panel.add([1.9], 1.9, val_loss=2.5)  # held-out got worse: best stays
        assert "val 2.5000" in app.loss_panel.figures()
        assert "best val 2.2500" in app.loss_panel.figures()  # best means best held-out


async def test_validation_shows_in_the_status_line_and_keeps_the_best_model(tmp_path):
    name, text = corpora.load("alice")
    config = TINY.replace(cell="gru", val_fraction=0.1, eval_every=20)
    trainer = Trainer(config, text[:6000], corpus_name=name)
    app = make_app(tmp_path / "run", trainer, sample_every=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.val_loss is not None)
        await wait_for(pilot, lambda: (tmp_path / "run" / "best.npz").exists())
        assert "val " in str(app.status.render())
        assert "val " in app.loss_panel.figures()
        await press(pilot, "space")
    best = checkpoint.load(tmp_path / "run" / "best.npz")
    assert best.config.cell == "gru"
    evaluated = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert any("val_loss" in record for record in evaluated)


async def test_the_status_line_says_when_the_held_out_loss_was_measured(tmp_path):
    name, text = corpora.load("blog_sample")
    config = TINY.replace(val_fraction=0.2, eval_every=10**6)  # evaluated after step 0 only
    trainer = Trainer(config, text, corpus_name=name)
    for _ in range(50):
        trainer.step()
    measured = trainer.val_history[-1][1]
    app = make_app(tmp_path / "run", trainer, start_paused=True, sample_every=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration == 50)  # the Welcome
        shown = f"iter 50 .* val {measured:.3f} @1"
        await wait_for(pilot, lambda: re.search(shown, status_row(app)))
        await press(pilot, "space")
        await wait_for(pilot, lambda: app.status.iteration > 200)  # Progress reports
        assert f"val {measured:.3f} @1" in status_row(app)  # old, and says so
        await press(pilot, "space")


def test_console_options_parse():
    args = cli.build_parser().parse_args(
        ["train", "--run-dir", "x", "--autosave-minutes", "0.5", "--fps", "4", "--theme", "ansi"]
    )
    assert (args.run_dir, args.autosave_minutes, args.fps, args.theme) == ("x", 0.5, 4, "ansi")
    defaults = cli.build_parser().parse_args(["train"])
    assert defaults.autosave_minutes == 5.0 and defaults.theme == "dark"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fps", "0"], "--fps: must be 1 or more"),
        (["--autosave-minutes", "-1"], "--autosave-minutes: must be 0 or more"),
        (["--theme", "neon"], "invalid choice: 'neon'"),
    ],
)
def test_bad_console_options_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("theme", "textual_name"),
    [("high-contrast", "charrnn-high-contrast"), ("ansi", "ansi-dark"), ("light", "textual-light")],
)
async def test_themes(tmp_path, theme, textual_name):
    from console_support import TINY  # noqa: F401  (same tiny model)

    from tui.app import ConsoleApp

    session = make_session(tmp_path, start_paused=True)
    app = ConsoleApp(InProcessLink(session), session.run_dir, theme=theme)
    async with app.run_test(size=SIZE):
        assert app.theme == textual_name
        assert app.native_ansi_color == (theme == "ansi")


async def test_no_color_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tmp_path / "run", start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.no_color
        svg = app.export_screenshot()
    # Monochrome: no saturated colour left on screen (greys have r ≈ g ≈ b).
    colours = set(re.findall(r"fill: #([0-9a-f]{6})", svg))
    assert colours
    channels = [[int(c[i : i + 2], 16) for i in (0, 2, 4)] for c in colours]
    assert all(max(rgb) - min(rgb) <= 8 for rgb in channels), colours


def test_a_prime_in_the_console_starts_from_a_zero_state():
    """The prime dialog's samples follow `charrnn sample`'s rule: the context starts at the
    prime, whatever state training is in."""
    import copy

    from engine.sampling import SampleSettings
    from tui.runs.policy import RunPolicy, RunSettings

    trainer = tiny_trainer(iterations=50)
    policy = RunPolicy(None, RunSettings(), lambda event: None)
    drawn_from = copy.deepcopy(trainer.rng.bit_generator.state)
    got = policy.sample(trainer, 1.0, 40, prime="bye")
    trainer.rng.bit_generator.state = drawn_from
    assert got.text == trainer.sample(SampleSettings(length=40), prime="bye", start="zero")
