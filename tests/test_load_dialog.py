"""The console's load (l): a NaN-weight checkpoint and a named pipe are refused in one line
while training goes on, and a symbolic link shows where it points before it is loaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from console_support import SIZE, fill, make_app, press, tiny_trainer, wait_for
from test_cli import edit_entries

from engine import checkpoint
from tui.runs.protocol import Load
from tui.screens import LoadDialog


def nan_checkpoint(path: Path) -> Path:
    """What a run whose weights blew up leaves behind (older charrnn saved such files)."""
    checkpoint.save(tiny_trainer(iterations=5), path)
    edit_entries(path, lambda arrays, meta: arrays["param/by"].fill(np.nan))
    return path


async def test_loading_a_nan_weight_checkpoint_is_refused_and_training_goes_on(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    nan_checkpoint(run / "blown.npz")
    app = make_app(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 0)
        await press(pilot, "l", "enter")  # the newest checkpoint: the NaN one
        await wait_for(pilot, lambda: "load refused" in app.message_line.text)
        assert "parameter by is not finite" in app.message_line.text
        assert "\n" not in app.message_line.text
        before = app.status.iteration
        await wait_for(pilot, lambda: app.status.iteration > before + 20)
        assert app.status.state == "running"
        await press(pilot, "q")
        await wait_for(pilot, lambda: app.session.exit_report is not None)
    # The model that went on training is what latest.npz holds: finite, loadable.
    assert checkpoint.load(run / "latest.npz").iteration > before


async def test_a_fifo_typed_into_the_load_dialog_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    app = make_app(tmp_path / "run")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "l")
        await fill(pilot, "#load-path", str(fifo))
        await press(pilot, "enter")
        error = app.screen.query_one("#load-error")
        await wait_for(pilot, lambda: "named pipe" in str(error.render()), timeout=3)
        assert isinstance(app.screen, LoadDialog)  # open for another path
        await press(pilot, "escape")
        before = app.status.iteration
        await wait_for(pilot, lambda: app.status.iteration > before, timeout=3)  # no freeze


async def test_a_fifo_sent_to_the_run_is_refused_without_blocking_it(tmp_path: Path) -> None:
    # What a viewer of a detached run sends, past any dialog: the run refuses it at once.
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    app = make_app(tmp_path / "run")
    async with app.run_test(size=SIZE) as pilot:
        app.link.send(Load(str(fifo)))
        await wait_for(pilot, lambda: "named pipe" in app.message_line.text, timeout=3)
        before = app.status.iteration
        await wait_for(pilot, lambda: app.status.iteration > before, timeout=3)


async def test_the_load_dialog_shows_where_a_link_points(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    real = elsewhere / "real.npz"
    checkpoint.save(tiny_trainer(iterations=3), real)
    run = tmp_path / "run"
    run.mkdir()
    (run / "link.npz").symlink_to(real)
    app = make_app(run, start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "l")
        listed = app.screen.query_one("#load-list").get_option_at_index(0).prompt
        assert str(listed).startswith(f"link.npz → {real}")
        note = app.screen.query_one("#load-link")
        assert str(note.render()) == f"a link to {real}"  # the proposed path is the link
        await fill(pilot, "#load-path", str(real))
        await wait_for(pilot, lambda: str(note.render()) == "")  # not a link: nothing to say
