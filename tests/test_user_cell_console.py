"""The console's inspect screen on a user's cell (tests/fixtures/cells/mgu.py) at 80x24: the
activations k cycles, the gate letters and the scales all come from the cell's declaration."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from engine.cells import CELL_TYPES
from engine.cells.user import load_cell_file
from engine.config import Config
from engine.inspect import take_snapshot
from engine.trainer import Trainer
from tui.screens.inspect import InspectScreen

MGU = Path(__file__).parent / "fixtures" / "cells" / "mgu.py"
TEXT = 'She said "quiet (please)" and left; he stayed.\n' * 20


class Host(App[None]):
    def __init__(self, trainer: Trainer) -> None:
        super().__init__()
        self.trainer = trainer

    def on_mount(self) -> None:
        self.push_screen(InspectScreen(take_snapshot(self.trainer, length=300)))


def screen_text(app: App) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_the_inspect_screen_shows_a_user_cells_own_activations_and_gates() -> None:
    before = dict(CELL_TYPES)
    try:
        load_cell_file(str(MGU))
        trainer = Trainer(Config(cell="mgu", hidden=8, seq_length=10, layers=2), TEXT, seed=0)
        trainer.train(5)
        app = Host(trainer)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, InspectScreen)
            seen = []
            for _ in range(3):
                await pilot.press("k")
                seen.append(screen.kind)
            assert sorted(seen) == ["f", "h", "n"]
            while screen.kind != "f":
                await pilot.press("k")
            text = screen_text(app)
            assert " · f unit " in text and "scale 0 … 1" in text
            assert "k switches h/f/n" in text
            await pilot.press("s")
            text = screen_text(app)
            assert screen.view == "gates"
            assert "one letter per unit and gate (f; * several)" in text
            assert "layer 1" in text and "no gates" not in text
    finally:
        CELL_TYPES.clear()
        CELL_TYPES.update(before)
