"""The curves view: reading metrics.jsonl, the chart's axes, and the screen at 80x24."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from curves_support import curve, describe_run, metrics_lines, screen_text, wait_for
from textual.app import App
from textual.binding import BindingType

import corpora
from engine import checkpoint
from engine.config import preset
from engine.trainer import Trainer
from tui.runs.metrics import (
    MetricsFile,
    RunCurves,
    RunInfo,
    RunMetrics,
    TrainPoint,
    ValPoint,
    follow_run,
    history_records,
    read_run_info,
    train_record,
    val_record,
)
from tui.screens.curves import CurvesScreen
from tui.widgets.curve_axes import CountFormatter, LogFormatter, TimeFormatter
from tui.widgets.curves import (
    Line,
    LossCurves,
    letter_places,
    series,
    thin,
    y_range,
)

# -- metrics.jsonl --------------------------------------------------------------------------


def test_records_are_read_and_unreadable_lines_counted_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    good = [
        '{"iteration": 0, "loss": 4.1, "chars_per_s": 10.0, "time": 0.1, "wall": 1.0}',
        '{"iteration": 0, "val_loss": 4.0}',
        '{"iteration": 100, "loss": 3.0, "time": 2.0}',
        '{"iteration": 100, "sample": "a record of a kind this version does not know"}',
    ]
    bad = [
        '{"iteration": 50, "loss": 3',  # cut short (a crash mid-write, then a restart)
        "[1, 2]",  # not an object
        '{"loss": 2.0}',  # no iteration
        '{"iteration": 200, "loss": NaN}',  # not a finite number
        '{"iteration": 200, "val_loss": "low"}',
    ]
    lines = [*good[:2], bad[0], *good[2:], *bad[1:]]
    data = "\n".join(lines).encode() + b"\n\xff\xfe\n"  # and a line that is not UTF-8
    path.write_bytes(data)
    source = MetricsFile(path)
    source.poll()
    m = source.metrics
    assert [(p.iteration, p.loss, p.time) for p in m.train] == [(0, 4.1, 0.1), (100, 3.0, 2.0)]
    assert [(p.iteration, p.loss) for p in m.val] == [(0, 4.0)]
    assert source.skipped == 6
    assert source.skipped_note() == f"{path}: skipped 6 unreadable lines (line 3: not JSON)"


def test_a_half_written_last_line_waits_for_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"iteration": 0, "loss": 4.0}\n{"iteration": 100, "lo')
    source = MetricsFile(path)
    assert source.poll()
    assert len(source.metrics.train) == 1
    with path.open("a") as f:
        f.write('ss": 3.5}\n')
    assert source.poll()
    assert [p.loss for p in source.metrics.train] == [4.0, 3.5]
    assert source.skipped == 0
    assert not source.poll()  # unchanged: nothing read, nothing redrawn


def test_a_file_that_shrank_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(line + "\n" for line in metrics_lines(1000, 1.5, 300)))
    source = MetricsFile(path)
    source.poll()
    path.write_text('{"iteration": 0, "loss": 4.2}\n')  # a new run in the same directory
    source.poll()
    assert [(p.iteration, p.loss) for p in source.metrics.train] == [(0, 4.2)]
    assert source.metrics.val == []


def test_going_back_to_an_earlier_iteration_replaces_what_came_after() -> None:
    # A checkpoint loaded mid-run: the curve is the history of the model as it now is.
    m = RunMetrics()
    for n in range(0, 1001, 100):
        m.add_train(n, 4 - n / 1000)
        if n % 500 == 0:
            m.add_val(n, 4.1 - n / 1000)
    m.add_train(600, 3.9)
    m.add_val(600, 3.95)
    assert [p.iteration for p in m.train] == [0, 100, 200, 300, 400, 500, 600]
    assert m.train[-1].loss == 3.9
    assert [p.iteration for p in m.val] == [0, 500, 600]
    assert m.best_val.iteration == 500


def test_what_writers_write_the_reader_reads(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    records = [train_record(0, 4.1234567, 12345.67, 0.5, 1.7e9), val_record(0, 4.0)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    source = MetricsFile(path)
    source.poll()
    assert source.metrics.train == [TrainPoint(0, 4.123457, 0.5)]
    assert source.metrics.val == [ValPoint(0, 4.0)]


def test_a_resumed_run_can_start_its_metrics_with_the_checkpoints_history(tmp_path) -> None:
    name, text = corpora.load("blog_sample")
    config = preset("classic").replace(hidden=8, seq_length=5, val_fraction=0.2, eval_every=100)
    trainer = Trainer(config, text, corpus_name=name)
    for _ in range(250):
        trainer.step()
    history = np.frombuffer(trainer.loss_history, dtype=np.float32)
    records = history_records(history, trainer.val_history, config, len(trainer.vocab))
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    source = MetricsFile(path)
    source.poll()
    assert source.skipped == 0
    assert [p.iteration for p in source.metrics.train] == [0, 100, 200]
    assert [(p.iteration, p.loss) for p in source.metrics.val] == [
        (n, pytest.approx(v, abs=1e-6)) for n, v in trainer.val_history
    ]


def test_run_info_from_run_json_else_the_checkpoint_else_unknown(tmp_path: Path) -> None:
    described = tmp_path / "a"
    described.mkdir()
    config = preset("gru").replace(
        hidden=200,
        seq_length=32,
        beta2=0.99,
        lr_decay=0.6,
        lr_decay_every=800,
        dropout=0.25,
        embedding=24,
        average=0.99,
    )
    describe_run(described, "gru", config)
    info = read_run_info(described)
    assert info.preset == "gru"
    assert info.describe() == (
        "gru: GRU 200, B64, seq 32, adam 0.005 beta2 0.99, decay 0.6/800, dropout 0.25, "
        "average 0.99, embed 24, float32"
    )
    assert info.chars_per_iteration == 64 * 32

    from_checkpoint = tmp_path / "b"
    from_checkpoint.mkdir()
    name, text = corpora.load("blog_sample")
    config = preset("classic").replace(hidden=8, seq_length=5)
    checkpoint.save(Trainer(config, text, corpus_name=name), from_checkpoint / "latest.npz")
    (from_checkpoint / "run.json").write_text("{not json")  # unreadable: the checkpoint says
    assert read_run_info(from_checkpoint) == RunInfo(None, config)
    assert read_run_info(from_checkpoint).describe().startswith("RNN 8, B1, seq 5, adagrad 0.1")

    assert read_run_info(tmp_path).describe() == "unknown configuration"


# -- the chart's arithmetic --------------------------------------------------------------


def test_log_axis_ticks_are_decades_labelled_with_their_value() -> None:
    counts = LogFormatter()
    ticks, labels = counts.get_ticks_and_labels(math.log10(100), math.log10(2_000_000))
    assert labels == ["100", "1k", "10k", "100k", "1M"]
    assert ticks == pytest.approx([2, 3, 4, 5, 6])
    _, short = counts.get_ticks_and_labels(math.log10(100), math.log10(900))
    assert short == ["100", "200", "500"]  # under three decades: 1-2-5 steps
    _, times = LogFormatter(seconds=True).get_ticks_and_labels(0.5, math.log10(4000))
    assert times[0] == "5s" and "1m" in times and times[-1] == "1h"


def test_linear_time_ticks_count_in_the_unit_the_run_is_measured_in() -> None:
    assert TimeFormatter().get_ticks_and_labels(0, 36)[1][:3] == ["0s", "5s", "10s"]
    assert TimeFormatter().get_ticks_and_labels(0, 7200)[1] == ["0h", "0.5h", "1h", "1.5h", "2h"]
    assert CountFormatter().get_ticks_and_labels(0, 20_000)[1][:3] == ["0", "5k", "10k"]


def test_x_values_log_drops_iteration_zero_and_characters_count_steps_done() -> None:
    run = RunCurves("r", RunInfo("gru", preset("gru")))
    for n in (0, 100, 200):
        run.metrics.add_train(n, 3.0, time=n / 10)
    xs, _ = series(run, run.metrics.train, "iterations", log_x=True)
    assert xs == pytest.approx([2.0, math.log10(200)])
    chars, _ = series(run, run.metrics.train, "characters", log_x=False)
    per_step = run.info.config.batch * run.info.config.seq_length
    assert chars == pytest.approx([per_step, 101 * per_step, 201 * per_step])
    run.metrics.add_val(250, 2.5)  # no time of its own: placed at its iteration's time
    run.metrics.add_train(300, 2.9, time=30.0)
    at, _ = series(run, run.metrics.val, "seconds", log_x=False)
    assert at == pytest.approx([25.0])


def test_thin_keeps_at_most_one_mean_point_per_slice() -> None:
    xs = np.arange(10_000, dtype=float)
    ys = np.where(xs < 5000, 4.0, 2.0)
    tx, ty = thin(xs, ys, 100)
    assert len(tx) == 100
    assert ty[0] == 4.0 and ty[-1] == 2.0
    assert np.all(np.diff(tx) > 0)
    short = np.arange(5.0)
    assert thin(short, short, 100)[0] is short  # short series pass through untouched


def test_linear_x_keeps_the_first_drop_from_squashing_the_rest() -> None:
    xs = np.arange(0, 10_001, 100, dtype=float)
    ys = np.array([curve(int(x), 1.5, 300) for x in xs])
    line = Line(0, "training", xs, ys)
    lo, hi = y_range([line], log_x=False)
    assert ys[5] <= hi < ys[4]  # from 5% of the run on (500 of 10k): the drop runs off the top
    assert lo < ys.min()
    _, whole = y_range([line], log_x=True)
    assert whole > ys.max()  # log x shows it all
    start = Line(0, "training", xs[:3], ys[:3])  # a run just started: everything shows
    assert y_range([start], log_x=False)[1] > ys[0]


def test_letters_of_curves_that_end_together_do_not_hide_each_other() -> None:
    xs = np.linspace(0, 1000, 20)
    a = Line(0, "held-out", xs, np.full(20, 1.50))
    b = Line(1, "held-out", xs, np.full(20, 1.51))
    c = Line(2, "held-out", xs, np.full(20, 3.0))
    (ax, _), (bx, _), (cx, _) = letter_places([a, b, c], (1.0, 3.2), cells=(70, 12))
    assert bx < ax  # same cell: moved left
    assert cx == ax  # far apart: both at the end
    assert ax < 1000  # inside the frame


# -- the screen ----------------------------------------------------------------------------


class Host(App[None]):
    """A stand-in for the console: `g` opens the curves view on its run."""

    BINDINGS: ClassVar[list[BindingType]] = [("g", "curves", "Curves")]

    def __init__(self, run: RunCurves) -> None:
        super().__init__()
        self.curves_run = run

    def action_curves(self) -> None:
        self.push_screen(CurvesScreen(self.curves_run))


def fixed_run(last: int = 4000) -> RunCurves:
    run = RunCurves("tinyshakespeare-20260101-120000", RunInfo("gru", preset("gru")))
    for line in metrics_lines(last, 1.45, 500):
        record = json.loads(line)
        if "val_loss" in record:
            run.metrics.add_val(record["iteration"], record["val_loss"])
        else:
            run.metrics.add_train(record["iteration"], record["loss"], record["time"])
    return run


async def test_curves_view_at_80x24_shows_both_series_toggles_log_x_and_closes() -> None:
    run = RunCurves("live", RunInfo("gru", preset("gru")))
    app = Host(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        screen = app.screen
        assert isinstance(screen, CurvesScreen)
        curves = screen.query_one(LossCurves)
        for n in range(0, 1001, 100):  # fed as the console feeds it, then one evaluation
            curves.add_train(n, curve(n, 1.5, 300), time=n / 20)
        curves.add_val(1000, 1.62)
        curves.add_train(1100, math.nan)  # never reaches the chart
        await wait_for(pilot, lambda: "best held-out 1.6200" in screen_text(app))
        kinds = {d.kind: d.points for d in curves.drawn}
        assert kinds["training"] == 11
        assert "held-out" in kinds  # a single evaluation is drawn as a point
        text = screen_text(app)
        assert "nats/char" in text and "iterations" in text
        assert "training (smoothed)" in text and "held-out" in text
        assert "1.6200 @ 1k" in text  # the table: best held-out and where

        await pilot.press("x")
        await wait_for(pilot, lambda: "iterations (log scale)" in screen_text(app))
        assert curves.log_x
        assert {d.kind: d.points for d in curves.drawn}["training"] == 10  # not iteration 0

        await pilot.press("escape")
        assert not isinstance(app.screen, CurvesScreen)


async def test_curves_view_follows_the_run_directory(tmp_path: Path) -> None:
    run = follow_run(tmp_path, RunInfo("gru", preset("gru")))  # before metrics.jsonl exists
    app = Host(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        curves = app.screen.query_one(LossCurves)
        assert curves.drawn == []
        lines = list(metrics_lines(2000, 1.5, 300))
        with (tmp_path / "metrics.jsonl").open("w") as f:
            f.write("\n".join(lines) + "\n")
        await wait_for(
            pilot, lambda: {d.kind for d in curves.drawn} == {"training", "held-out", "best"}
        )
        assert {d.kind: d.points for d in curves.drawn}["held-out"] == 5


async def test_curves_view_under_no_color_tells_lines_apart_by_shape(monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = Host(fixed_run())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        await wait_for(pilot, lambda: "◆ " in screen_text(app))  # renders: no crash
        text = screen_text(app)
        assert "⠒⠒⠒ training (smoothed)" in text
        assert "▀▀▀ held-out" in text
        assert "◆  best held-out" in text


def test_snapshot_of_the_curves_view(snap_compare) -> None:
    app = Host(fixed_run())

    async def run_before(pilot) -> None:
        await pilot.press("g")
        await wait_for(pilot, lambda: app.screen.query_one(LossCurves).drawn)
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
