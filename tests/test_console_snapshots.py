"""Snapshots of the main screen and the help screen at 80x24, in a fixed, paused state."""

from __future__ import annotations

from pathlib import Path

from console_support import make_app, press, tiny_trainer, wait_for


def paused_app(tmp_path, monkeypatch):
    # Everything on screen is fixed: seeded model, fixed clock, relative run directory, paused.
    monkeypatch.chdir(tmp_path)
    trainer = tiny_trainer(iterations=400, seed=1)
    trainer.elapsed = 83.0
    return make_app(Path("runs/blog_sample-snapshot"), trainer, start_paused=True)


def test_main_screen(snap_compare, tmp_path, monkeypatch):
    app = paused_app(tmp_path, monkeypatch)

    async def run_before(pilot):
        await press(pilot, "n")
        await wait_for(pilot, lambda: app.samples.count == 1)
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_help_screen(snap_compare, tmp_path, monkeypatch):
    app = paused_app(tmp_path, monkeypatch)

    async def run_before(pilot):
        await press(pilot, "question_mark")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
