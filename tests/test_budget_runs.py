"""A run with a time budget (--minutes) or an iteration budget, as each front end runs it:
the headless log stops and saves, the console pauses and says so, `d` passes on what is
left, resuming extends the budget, and the curves mark its end."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from console_support import SIZE, make_app, make_session, press, tiny_trainer, wait_for
from curves_support import curve, screen_text
from test_cli import TINY, run, run_exit
from test_curves import Host

from engine.config import preset
from engine.schedule import Budget
from tui.runs.metrics import RunCurves, RunInfo
from tui.runs.protocol import Notice, PausedChanged, Stop
from tui.screens.curves import CurvesScreen
from tui.widgets.curves import BUDGET_LABEL, LossCurves, budget_end

# A few tenths of a second of training: enough for a few hundred steps of the tiny model.
SECONDS = 0.4
MINUTES = str(SECONDS / 60)


def _meta(path: Path) -> dict:
    return json.loads(np.load(path)["meta"].tobytes())


def test_headless_minutes_stops_saves_and_says_why(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, "train", "blog_sample", "--headless", *TINY,
                         "--hidden", "8", "--minutes", MINUTES, "--save", "m.npz")  # fmt: skip
    assert status == 0
    assert "spent the time budget at iteration" in err and "(--minutes): finished" in err
    meta = _meta(tmp_path / "m.npz")
    assert meta["budget"] == {"seconds": pytest.approx(SECONDS), "iterations": None}
    assert meta["elapsed"] >= SECONDS  # training time, as the budget counts it
    assert meta["config"]["schedule"] == "anneal"  # a time budget brings the anneal

    # --minutes on resume means more minutes, counted from the training time saved
    status, _, err = run(capsys, "train", "blog_sample", "--headless", *TINY,
                         "--resume", "m.npz", "--minutes", MINUTES, "--save", "m2.npz")  # fmt: skip
    assert status == 0, err
    resumed = _meta(tmp_path / "m2.npz")
    assert resumed["budget"]["seconds"] == pytest.approx(meta["elapsed"] + SECONDS)
    assert resumed["iteration"] > meta["iteration"]


def test_minutes_and_iters_together_end_at_the_first(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, "train", "blog_sample", "--headless", *TINY, "--hidden", "8",
                         "--minutes", "10", "--iters", "30", "--save", "m.npz")  # fmt: skip
    assert status == 0 and "spent the time budget" not in err
    meta = _meta(tmp_path / "m.npz")
    assert meta["iteration"] == 30
    assert meta["budget"]["iterations"] == 30 and meta["budget"]["seconds"] == 600.0


def test_schedule_step_keeps_the_decay_under_a_time_budget(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    status, _, _ = run(capsys, "train", "blog_sample", "--headless", *TINY, "--hidden", "8",
                       "--minutes", MINUTES, "--schedule", "step", "--save", "m.npz")  # fmt: skip
    assert status == 0 and _meta(tmp_path / "m.npz")["config"]["schedule"] == "step"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--schedule", "anneal"], "--schedule anneal needs an end to anneal to"),
        (["--minutes", "0"], "argument --minutes: must be a positive number"),
        (["--minutes", "-2"], "argument --minutes: must be a positive number"),
        (["--minutes", "ten"], "argument --minutes: must be a positive number"),
        (["--minutes", "nan"], "argument --minutes"),
        (["--lr-floor", "1.5"], "argument --lr-floor: must be a number in [0, 1]"),
        (["--schedule", "cosine"], "argument --schedule: invalid choice"),
    ],
)
def test_a_bad_budget_or_schedule_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch,
                                                        argv, says) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    status, out, err = run_exit(capsys, "train", "blog_sample", "--headless", *argv)
    assert status == 2 and says in err
    assert "Traceback" not in err and out == ""
    assert not list(tmp_path.iterdir())  # nothing trained, nothing written


def _run_until_paused(tmp_path: Path, budget: Budget):
    posted: list = []
    trainer = tiny_trainer()
    trainer.budget = budget
    session = make_session(tmp_path / "run", trainer, posted.append, sample_every=0,
                           end_at_budget=True)  # fmt: skip
    thread = threading.Thread(target=session.train)
    thread.start()
    deadline = time.monotonic() + 30
    while not any(isinstance(e, PausedChanged) and e.paused for e in posted):
        assert time.monotonic() < deadline, "the budget never paused the run"
        time.sleep(0.02)
    return session, thread, posted


def test_the_console_pauses_once_at_the_time_budget_and_d_sees_none_left(tmp_path) -> None:
    session, thread, posted = _run_until_paused(tmp_path, Budget(seconds=SECONDS))
    try:
        notices = [e.text for e in posted if isinstance(e, Notice)]
        assert any("spent the time budget" in t and "paused; space resumes" in t for t in notices)
        assert session.trainer.elapsed >= SECONDS
        assert session.budget_left() == (None, 0.0)  # `d` now: the background run would end
        at = session.trainer.iteration
        session._set_paused(False)  # as space does, from the worker's side
        deadline = time.monotonic() + 30
        while session.trainer.iteration < at + 20:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert not session.paused  # once past, the budget pauses nothing more
        assert session.budget_left() is None  # and `d` would train on without a limit
    finally:
        session.send(Stop())
        thread.join(10)


def test_d_mid_budget_hands_on_what_is_left(tmp_path) -> None:
    trainer = tiny_trainer(iterations=5)
    trainer.budget = Budget(seconds=600.0, iterations=1000)
    session = make_session(tmp_path / "run", trainer, end_at_budget=True)
    iters, minutes = session.budget_left()
    assert iters == 995
    assert minutes == pytest.approx((600.0 - trainer.elapsed) / 60)
    # without --iters or --minutes a resumed run's budget ends nothing: `d` sets no limit
    assert make_session(tmp_path / "other", trainer).budget_left() is None


async def test_the_status_line_shows_the_time_left_and_the_rate(tmp_path) -> None:
    trainer = tiny_trainer()
    trainer.budget = Budget(seconds=SECONDS)
    app = make_app(tmp_path / "run", trainer, start_paused=True, end_at_budget=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "left" in str(app.status.render()))
        text = str(app.status.render())
        assert "0:00:00 left" in text  # 0.4 s: less than a second left
        assert f"lr {trainer.config.lr:.2g} ·" in text
        await press(pilot, "space")
        await wait_for(pilot, lambda: "spent the time budget" in app.message_line.text)
        assert app.status.state == "paused"


def test_the_budgets_end_falls_where_the_limit_is_reached() -> None:
    run = RunCurves("r", RunInfo("gru", preset("gru"), Budget(iterations=4000)))
    assert budget_end(run) == 4000
    timed = RunCurves("t", RunInfo("gru", preset("gru"), Budget(seconds=100.0)))
    for n in range(0, 1001, 100):
        timed.metrics.add_train(n, 2.0, n / 20)  # 20 iterations a second so far
    assert budget_end(timed) == pytest.approx(2000)  # at this speed, 100 s is iteration 2,000
    for n in range(1100, 2601, 100):
        timed.metrics.add_train(n, 2.0, 50 + (n - 1000) / 10)  # slower after 50 s
    assert budget_end(timed) == pytest.approx(1500)  # where the records cross 100 s
    both = RunCurves("b", RunInfo("gru", preset("gru"), Budget(seconds=100.0, iterations=900)))
    both.metrics.add_train(1000, 2.0, 50.0)
    assert budget_end(both) == 900  # the first limit
    assert budget_end(RunCurves("n", RunInfo("gru", preset("gru")))) is None


async def test_the_curves_view_marks_the_budgets_end() -> None:
    run = RunCurves("live", RunInfo("gru", preset("gru"), Budget(seconds=100.0)))
    app = Host(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        screen = app.screen
        assert isinstance(screen, CurvesScreen)
        curves = screen.query_one(LossCurves)
        for n in range(0, 1001, 100):
            curves.add_train(n, curve(n, 1.5, 300), time=n / 20)
        await wait_for(pilot, lambda: "budget" in {d.kind for d in curves.drawn})
        assert BUDGET_LABEL in screen_text(app)
        assert math.isfinite(budget_end(run))
