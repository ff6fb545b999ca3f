"""The inspect screen at 80x24: every key, one training step at a time, and snapshots of the
predictions and neurons views with the ansi theme and with NO_COLOR."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from inspect_support import SAMPLE, SIZE, Host, open_screen, screen_text, trained
from textual.widgets import Input

from engine.inspect import find_units
from engine.limits import MAX_PASSAGE_CHARS
from engine.trainer import Trainer
from tui.docs_pointers import VIEW_DOCS, explained
from tui.screens.inspect import InspectScreen
from tui.widgets.inspect_views import PassageView


@pytest.fixture(scope="module")
def trainer() -> Trainer:
    return trained()


async def test_it_opens_on_the_predictions_view_with_its_keys_shown(trainer) -> None:
    app = Host(copy.deepcopy(trainer))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        text = screen_text(app)
        lines = text.split("\n")
        assert "predictions" in lines[0] and "iter 40" in lines[0]
        assert "Esc back" in lines[-1] and "u neurons" in lines[-1]
        assert "·" in text and "⏎" in text  # spaces and newlines are visible
        # the top-5 under the cursor, with numbers
        top = screen.passage.top(0)
        assert f"{top[0][1]:6.3f}" in text


async def test_arrow_keys_home_and_end_move_the_cursor(trainer) -> None:
    app = Host(copy.deepcopy(trainer))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        view = screen.query_one(PassageView)
        await pilot.press("right", "right", "right")
        assert view.cursor == 3
        await pilot.press("left")
        assert view.cursor == 2
        rows, here = view.rows(), view.row_of(2)
        column = 2 - rows[here][0]
        await pilot.press("down")
        start, end = rows[here + 1]
        assert view.cursor == min(start + column, end - 1)  # same column, or the row's end
        await pilot.press("up")
        assert view.cursor == 2
        await pilot.press("end")
        assert view.cursor == len(screen.passage) - 1
        await pilot.press("right")
        assert view.cursor == len(screen.passage) - 1  # stays on the passage
        await pilot.press("home", "left")
        assert view.cursor == 0
        await pilot.press("right")
        t = view.cursor
        assert f"#{t} " in screen_text(app)  # the detail follows the cursor


async def test_the_cursor_row_stays_on_screen(trainer) -> None:
    app = Host(copy.deepcopy(trainer), length=1500)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        view = screen.query_one(PassageView)
        shown = view.size.height // 2
        assert len(view.rows()) > shown  # more rows than fit: the view must scroll
        await pilot.press("end")
        assert view.top_row <= view.row_of(view.cursor) < view.top_row + shown
        assert view.top_row > 0 and "▲" in screen_text(app)
        await pilot.press("home")
        assert view.top_row == 0 and "▲" in screen_text(app)


async def test_u_shows_the_finders_best_unit_and_brackets_step_through_units(trainer) -> None:
    app = Host(copy.deepcopy(trainer))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("u")
        best = find_units(screen.passage)[0]
        assert screen.view == "neurons"
        assert (screen.kind, screen.unit) == (best.kind, best.unit)
        header = screen_text(app).split("\n")[1].strip()
        assert header.startswith(f"layer 0 · {best.kind} unit {best.unit} · r = ")
        assert f'"{best.property}"' in header
        await pilot.press("right_square_bracket")
        assert screen.unit == (best.unit + 1) % 16
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert screen.unit == (best.unit - 1) % 16
        screen.unit = 0
        await pilot.press("left_square_bracket")
        assert screen.unit == 15  # wraps around
        assert "unit 15 " in screen_text(app).split("\n")[1]


async def test_f_walks_down_the_finders_ranking_and_k_switches_h_c_and_gates(trainer) -> None:
    app = Host(copy.deepcopy(trainer))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        ranking = find_units(screen.passage)
        await pilot.press("f")
        assert (screen.kind, screen.unit) == (ranking[0].kind, ranking[0].unit)
        await pilot.press("f")
        assert (screen.kind, screen.unit) == (ranking[1].kind, ranking[1].unit)
        assert "rank 2 of 32" in screen_text(app)
        seen = []
        for _ in range(6):
            await pilot.press("k")
            seen.append(screen.kind)
        assert sorted(seen) == sorted(["h", "c", "i", "f", "o", "g"])
        assert f"layer 0 · {screen.kind} unit" in screen_text(app).split("\n")[1]


async def test_s_shows_the_gate_scatter_and_table_and_p_goes_back(trainer) -> None:
    app = Host(copy.deepcopy(trainer))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("s")
        text = screen_text(app)
        assert screen.view == "gates"
        assert "layer 0" in text and "< 0.1" in text and "└" in text
        assert "mean <0.1" in text and "units mostly >0.9" in text
        await pilot.press("p")
        assert screen.view == "predictions"
        assert "surprised" in screen_text(app)


async def test_t_reads_typed_text_and_names_characters_it_cannot(trainer) -> None:
    app = Host(copy.deepcopy(trainer))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("t")
        box = screen.query_one(Input)
        assert box.has_focus
        await pilot.press(*"the cat")
        await pilot.press("enter")
        assert screen.passage.text == "the cat"
        assert not box.has_class("-open") and screen.query_one(PassageView).has_focus
        await pilot.press("t", *"a~b", "enter")
        assert screen.passage.text == "the cat"
        assert "outside the model's vocabulary: '~'" in screen_text(app)
        await pilot.press("escape")  # closes the box, stays on the screen
        assert app.screen is screen and not box.has_class("-open")
        await pilot.press("t", "enter")
        assert "type some text" in screen_text(app)


async def test_g_reads_the_latest_sample(trainer) -> None:
    app = Host(copy.deepcopy(trainer))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("g")
        assert screen.passage.text == SAMPLE
        assert "Alice·said·nothing." in screen_text(app)
        screen.latest_sample = None
        await pilot.press("g")
        assert "no sample yet" in screen_text(app)


async def test_escape_goes_back(trainer) -> None:
    app = Host(copy.deepcopy(trainer))
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot)
        await pilot.press("u", "escape")
        assert not isinstance(app.screen, InspectScreen)


async def test_full_stop_takes_exactly_one_step_and_shows_its_gradients(trainer) -> None:
    live = copy.deepcopy(trainer)
    twin = copy.deepcopy(trainer)
    inputs, targets, reset = twin.stream.next_window()
    state = twin.model.zero_state(4) if reset else twin.state
    fwd, grads, _ = twin.model.loss_and_grads(twin.params, inputs, targets, state, twin.rng)
    app = Host(live)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("full_stop")
        await pilot.pause()
        assert app.steps_asked == 1
        assert live.iteration == trainer.iteration + 1
        assert screen.view == "step" and screen.snapshot.iteration == live.iteration
        text = screen_text(app)
        for name, g in grads.items():
            row = next(line for line in text.split("\n") if line.split()[:1] == [name])
            assert row.split()[1] == f"{np.linalg.norm(g):.2e}"
            assert row.split()[2] == f"{np.abs(g).max():.2e}"
        assert f"{fwd.nats_per_char:.4f} →" in text
        await pilot.press("full_stop")
        assert live.iteration == trainer.iteration + 2


async def test_full_stop_without_a_training_console_says_so(trainer) -> None:
    app = Host(copy.deepcopy(trainer), stepping=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("full_stop")
        assert screen.view == "predictions"
        assert "while paused" in screen_text(app)


async def test_a_click_puts_the_cursor_on_a_character(trainer) -> None:
    app = Host(copy.deepcopy(trainer))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        view = screen.query_one(PassageView)
        await pilot.click(PassageView, offset=(6, 2))  # second text row, sixth character
        start = view.rows()[1][0]
        assert view.cursor == start + 5


# -- snapshots ----------------------------------------------------------------------------------


def snapshot_host(monkeypatch, no_color: bool) -> Host:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    return Host(trained(), theme="ansi-dark")


@pytest.mark.parametrize("no_color", [False, True], ids=["ansi", "no-color"])
def test_predictions_view_snapshot(snap_compare, monkeypatch, no_color) -> None:
    async def run_before(pilot) -> None:
        await pilot.pause()
        await pilot.press(*["right"] * 9, "down")
        await pilot.pause()

    app = snapshot_host(monkeypatch, no_color)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("no_color", [False, True], ids=["ansi", "no-color"])
def test_neurons_view_snapshot(snap_compare, monkeypatch, no_color) -> None:
    async def run_before(pilot) -> None:
        await pilot.pause()
        await pilot.press("u", *["right"] * 4)
        await pilot.pause()

    app = snapshot_host(monkeypatch, no_color)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def test_t_refuses_a_passage_over_the_limit_in_one_line(trainer) -> None:
    """The same limit as charrnn inspect (engine/limits.py MAX_PASSAGE_CHARS)."""
    app = Host(copy.deepcopy(trainer))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot)
        before = screen.passage.text
        await pilot.press("t")
        box = screen.query_one(Input)
        box.value = "the cat " * (MAX_PASSAGE_CHARS // 8 + 1)  # pasted
        await pilot.press("enter")
        assert screen.passage.text == before
        shown = screen_text(app)
        assert f"inspect reads at most {MAX_PASSAGE_CHARS:,} characters" in shown
        assert box.has_class("-open")  # stays open for a shorter one


async def test_each_view_says_where_it_is_explained_until_a_message_replaces_it(trainer) -> None:
    app = Host(copy.deepcopy(trainer))
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot)
        for key, view in (("u", "neurons"), ("s", "gates"), ("p", "predictions")):
            await pilot.press(key)
            await pilot.pause()
            assert explained(view) in screen_text(app), view
        await pilot.press(".")  # outside a console: a message takes the line
        await pilot.pause()
        assert explained("predictions") not in screen_text(app)
        for key, view in (("w", "window"), ("b", "through"), ("enter", "chain")):
            await pilot.press(key)  # the backprop views point from their own panel
            await pilot.pause()
            await pilot.pause()
            assert VIEW_DOCS[view] in screen_text(app), view
