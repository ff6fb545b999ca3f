"""The inspect screen's views of backpropagation through time at 80x24: the window (`w`) and
`m` through its streams, `.` moving the pointer, the through-time chart (`b`) with its
cursor and `l` through the layers, the chain rule (Enter) with `[ ]` and the arrows, `?`;
snapshots with the ansi theme and with NO_COLOR."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from inspect_support import SIZE, Host, open_screen, screen_text

import corpora
from engine.chain_rule import chain_step
from engine.config import Config, preset
from engine.inspect import take_snapshot
from engine.through_time import WindowPass
from engine.trainer import Trainer
from tui.screens.help import HelpScreen
from tui.through_time_text import sci
from tui.visible import visible


@pytest.fixture(scope="module")
def lstm() -> Trainer:
    """A 2-layer LSTM over a minibatch of 4, trained a little."""
    name, text = corpora.load("alice")
    config = Config(cell="lstm", hidden=16, layers=2, seq_length=16, batch=4, lr=0.01)
    trainer = Trainer(
        config.replace(optimizer="adam", loss="mean"), text[:40_000], corpus_name=name
    )
    trainer.train(20)
    return trainer


async def keys(pilot, *names: str) -> None:
    """Press keys and let the screen redraw."""
    await pilot.press(*names)
    await pilot.pause()


@pytest.fixture(scope="module")
def classic() -> Trainer:
    name, text = corpora.load("blog_sample")
    trainer = Trainer(preset("classic").replace(hidden=24), text, corpus_name=name)
    trainer.train(30)
    return trainer


def shown(text: str) -> str:
    """Characters as the views draw them, one apart (as the rows are laid out)."""
    return " ".join(visible(c) for c in text)


async def test_w_shows_the_next_window_and_dot_moves_the_pointer_by_t(classic) -> None:
    app = Host(copy.deepcopy(classic))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        upcoming = screen.snapshot.next.window
        await keys(pilot, "w")
        text = screen_text(app)
        assert screen.view == "window" and "window (next step" in text.split("\n")[0]
        stream = upcoming.streams[0]
        assert "input   " + shown(stream.inputs) in text
        assert "target  " + shown(stream.targets) in text
        assert f"p = {upcoming.position:,}" in text and f"epoch {upcoming.epoch}" in text
        assert "never a target at T = 25" in text and "learn.md#the-window-view" in text
        positions = []
        for _ in range(3):  # the blog's 58 characters: p = 0, 25, then back to 0
            await keys(pilot, "full_stop")
            await pilot.pause()
            assert screen.view == "window"  # stays, so the pointer is seen moving
            taken = screen.snapshot.taken.window
            positions.append((taken.position, taken.reset))
            text = screen_text(app)
            assert "step just taken" in text and f"p = {taken.position:,}" in text
            assert "input   " + shown(taken.streams[0].inputs) in text
        start = upcoming.position
        expected = [(start, upcoming.reset)]
        while len(expected) < 3:
            p = expected[-1][0] + 25
            expected.append((p, "") if p + 26 < 58 else (0, "wrapped"))
        assert positions == expected
        assert any(reset == "wrapped" for _, reset in positions)
        assert "p went back to 0" in screen_text(app) or positions[-1][1] == ""


async def test_m_walks_through_the_streams_of_a_minibatch(lstm) -> None:
    app = Host(copy.deepcopy(lstm))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        window = screen.snapshot.next.window
        await keys(pilot, "w")
        for stream in window.streams[1:] + window.streams[:1]:
            await keys(pilot, "m")
            text = screen_text(app)
            assert f"▶ stream {stream.stream} of 4" in text
            assert f"characters {stream.start:,}–" in text
            assert "input   " + shown(stream.inputs) in text


async def test_b_draws_the_window_through_time_with_the_engines_numbers(classic) -> None:
    app = Host(copy.deepcopy(classic))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await keys(pilot, "b")
        record = screen.snapshot.next
        flow = WindowPass(classic.config, len(classic.vocab), record.replay, 0).flow(
            0, classic.vocab
        )
        lf = flow.layers[0]
        text = screen_text(app)
        lines = text.split("\n")
        assert screen.view == "through" and "through time" in lines[0]
        assert lines[2].split(None, 1)[1].startswith(shown(flow.inputs[:20]))  # headers
        assert "∂L_T ×1" in text and "×0.01 1%" in text and "▲" in text
        t = flow.steps - 1
        assert f"t = {t} " in text and f"‖∂L/∂h_t‖ = {sci(lf.grad_h[t])}" in text
        reach = "the whole window" if lf.horizon >= flow.steps else f"{lf.horizon} steps back"
        assert f"horizon (≥ 1%): {reach}" in text
        await keys(pilot, "left", "left", "left")
        t -= 3
        text = screen_text(app)
        assert f"t = {t} " in text and f"‖∂L_T/∂s_t‖ = {sci(lf.last[t + 1])}" in text
        assert f"factor t→t−1: {sci(lf.factor[t])}" in text
        assert f"(bound ‖Whhᵀdiag(1−h_t²)‖ {sci(lf.analytic[t])})" in text
        await keys(pilot, "home")
        assert "t = 0 " in screen_text(app) and "· start state " in screen_text(app)
        await keys(pilot, "end")
        assert f"t = {flow.steps - 1} " in screen_text(app)


async def test_l_changes_the_layer_of_a_stacked_model(lstm) -> None:
    trainer = copy.deepcopy(lstm)
    app = Host(trainer)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await keys(pilot, "b")
        assert "layer 0 of 2" in screen_text(app)
        await keys(pilot, "l")
        text = screen_text(app)
        assert "layer 1 of 2" in text and "(h " in text and "c " in text  # h and c, both
        await keys(pilot, "m")
        stream = screen.snapshot.next.window.streams[1].stream
        assert f"stream {stream} of 4" in screen_text(app)
        await keys(pilot, "l")
        assert "layer 0 of 2" in screen_text(app)


async def test_enter_opens_the_chain_rule_and_its_numbers_are_the_engines(classic) -> None:
    app = Host(copy.deepcopy(classic))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await keys(pilot, "b", "left", "enter")
        assert screen.view == "chain"
        wp = WindowPass(classic.config, len(classic.vocab), screen.snapshot.next.replay, 0)
        t = wp.steps - 2
        unit = int(np.abs(wp.handed_on(0, t, 0)[0]).argmax())  # the largest |dh| first
        step = chain_step(wp, 0, t, unit, classic.vocab)
        text = screen_text(app)
        assert f"t = {t} " in text and f"unit {unit} of 24" in text
        for term in step.terms:
            assert f"{term.equation}" in text and term.numbers in text
        assert f"analytic {step.check.analytic:+.6e}" in text and "they agree" in text
        await keys(pilot, "right_square_bracket")
        assert f"unit {(unit + 1) % 24} of 24" in screen_text(app)
        await keys(pilot, "left")
        assert f"t = {t - 1} " in screen_text(app) and screen.view == "chain"
        await keys(pilot, "escape")
        assert screen.view == "through"
        await keys(pilot, "escape")
        assert not isinstance(app.screen, type(screen))


async def test_a_users_cell_shows_its_own_equations(user_cell_trainer) -> None:
    app = Host(user_cell_trainer)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await keys(pilot, "b", "enter")
        text = screen_text(app)
        assert "declares (charrnn cannot see inside it" in text
        for equation in screen.snapshot.model.cells[0].equations[:2]:
            assert equation[:40] in text
        assert "they agree" in text


async def test_dot_in_the_through_time_view_shows_the_step_just_taken(classic) -> None:
    trainer = copy.deepcopy(classic)
    app = Host(trainer)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await keys(pilot, "b", "full_stop")
        await pilot.pause()
        assert screen.view == "through"
        assert f"step just taken, iter {trainer.iteration - 1:,}" in screen_text(app)
        assert "clipping: ±5 changed" in screen_text(app)


async def test_question_mark_lists_the_new_keys(classic) -> None:
    app = Host(copy.deepcopy(classic))
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot)
        await keys(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for words in ("The training window", "Backpropagation through time", "The chain rule"):
            assert words in text
        keys_listed = {line.split()[0] for line in text.split("\n") if line.strip()}
        assert {"w", "b", "enter", "l", "m"} <= keys_listed


async def test_keys_outside_their_views_say_where_they_work(classic) -> None:
    app = Host(copy.deepcopy(classic))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await keys(pilot, "enter")
        assert "chain rule at a step of the through-time view (b)" in screen_text(app)
        await keys(pilot, "l")
        assert "layer of the through-time view" in screen_text(app)
        await keys(pilot, "m")
        assert "stream of the window (w)" in screen_text(app)
        assert screen.view == "predictions"


@pytest.fixture
def user_cell_trainer():
    from pathlib import Path

    from engine.cells import CELL_TYPES
    from engine.cells.user import load_cell_file

    before = dict(CELL_TYPES)
    cell = load_cell_file(str(Path(__file__).parent / "fixtures" / "cells" / "mgu.py"))
    name, text = corpora.load("blog_sample")
    trainer = Trainer(Config(cell=cell.name, hidden=8, seq_length=10), text, corpus_name=name)
    trainer.train(5)
    yield trainer
    CELL_TYPES.clear()
    CELL_TYPES.update(before)


# -- snapshots ----------------------------------------------------------------------------------


def snapshot_host(monkeypatch, no_color: bool) -> Host:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    name, text = corpora.load("blog_sample")
    trainer = Trainer(preset("classic").replace(hidden=24), text, corpus_name=name)
    trainer.train(60)
    return Host(trainer, theme="ansi-dark", length=200)


@pytest.mark.parametrize("no_color", [False, True], ids=["ansi", "no-color"])
@pytest.mark.parametrize(
    "presses",
    [("w",), ("b", "left", "left"), ("b", "left", "enter")],
    ids=["window", "through-time", "chain-rule"],
)
def test_backprop_view_snapshots(snap_compare, monkeypatch, no_color, presses) -> None:
    async def run_before(pilot) -> None:
        await pilot.pause()
        await keys(pilot, *presses)
        await pilot.pause()

    app = snapshot_host(monkeypatch, no_color)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_an_old_snapshot_without_windows_says_so(classic) -> None:
    import dataclasses

    from tui.backprop_views import NO_WINDOW, BackpropViews

    old = dataclasses.replace(take_snapshot(copy.deepcopy(classic), length=50), next=None)
    views = BackpropViews(old)
    assert views.window_view(78).header == NO_WINDOW
    assert views.through_view(78).header == NO_WINDOW


async def test_a_diverged_model_is_drawn_not_raised(classic) -> None:
    trainer = copy.deepcopy(classic)
    trainer.params["l0.Whh"][...] = np.inf  # as after a divergence
    app = Host(trainer)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await keys(pilot, "b", "left", "enter")
        assert screen.view == "chain" and "not numbers: the model diverged" in screen_text(app)
        await keys(pilot, "escape", "w")
        assert screen.view == "window"
