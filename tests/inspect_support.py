"""The inspect screen's test host: a bare app that opens the screen on a trained model's
snapshot and takes a training step for `.` as the console's worker does."""

from __future__ import annotations

from textual.app import App

import corpora
from engine.config import Config
from engine.inspect import step_statistics, take_snapshot
from engine.trainer import Trainer
from tui.screens.inspect import InspectScreen

SIZE = (80, 24)
SAMPLE = "Alice said nothing."


def trained(iterations: int = 40) -> Trainer:
    name, text = corpora.load("alice")
    config = Config(
        cell="lstm",
        hidden=16,
        seq_length=16,
        batch=4,
        optimizer="adam",
        lr=0.01,
        loss="mean",
        val_fraction=0.1,
    )
    trainer = Trainer(config, text[:40_000], seed=0, corpus_name=name)
    trainer.train(iterations)
    return trainer


class Host(App[None]):
    """A bare app that opens the inspect screen, as the console will."""

    def __init__(
        self,
        trainer: Trainer,
        *,
        theme: str = "textual-dark",
        stepping: bool = True,
        length: int = 400,
    ) -> None:
        super().__init__(ansi_color=theme == "ansi-dark")
        self.trainer = trainer
        self.length = length
        self.theme_name = theme
        self.stepping = stepping
        self.steps_asked = 0

    def on_mount(self) -> None:
        self.theme = self.theme_name
        self.push_screen(
            InspectScreen(
                take_snapshot(self.trainer, length=self.length),
                latest_sample=SAMPLE,
                on_step=self.step if self.stepping else None,
            )
        )

    def step(self) -> None:
        # What the console's worker will do between two steps, here on the UI thread.
        self.steps_asked += 1
        _, stats = step_statistics(self.trainer)
        self.screen.show_step(stats, take_snapshot(self.trainer, length=self.length, stats=stats))


def screen_text(app: App) -> str:
    """The characters on screen, row by row (what a user reads, colour aside)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def open_screen(pilot) -> InspectScreen:
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, InspectScreen)
    return screen
