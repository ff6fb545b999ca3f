"""The curves view of the console: this run's training and held-out loss, full screen.

A plain Screen, not a modal one: the console's own keys (pause, temperature, save, quit)
keep working while it is shown. Escape (or g again) goes back.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer

from tui.runs.metrics import POLL_SECONDS, RunCurves
from tui.widgets.curves import LossCurves

# The keys of a curves view, shared by the console's screen and `charrnn compare`.
CURVE_BINDINGS: list[BindingType] = [
    Binding("x", "log_x", "Log x", id="curves.log_x", tooltip="x axis: linear or log scale"),
    Binding(
        "u",
        "x_axis",
        "x units",
        id="curves.x_axis",
        tooltip="x axis: iterations, characters seen or training time",
    ),
    Binding(
        "v",
        "shown",
        "Lines",
        id="curves.shown",
        tooltip="show training and held-out loss, held-out only, or training only",
    ),
    Binding(
        "r",
        "reset_zoom",
        "Reset zoom",
        id="curves.reset_zoom",
        tooltip="back to the whole run after zooming (mouse wheel) or panning (dragging)",
    ),
]


class CurvesActions:
    """The actions behind CURVE_BINDINGS, for any screen or app with a `curves` widget."""

    curves: LossCurves

    def action_log_x(self) -> None:
        self.curves.toggle_log_x()

    def action_x_axis(self) -> None:
        self.curves.next_x_axis()

    def action_shown(self) -> None:
        self.curves.next_shown()

    def action_reset_zoom(self) -> None:
        self.curves.plot.action_reset_scales()


class CurvesScreen(CurvesActions, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="curves.close", tooltip="Back to the console"),
        Binding("g", "close", "Back", show=False, id="curves.close2"),
        *CURVE_BINDINGS,
    ]

    def __init__(self, run: RunCurves) -> None:
        super().__init__()
        self.run = run

    def compose(self) -> ComposeResult:
        self.curves = LossCurves([self.run], id="curves")
        yield self.curves
        yield Footer()

    def on_mount(self) -> None:
        if self.run.source is not None:
            self.set_interval(POLL_SECONDS, self.run.poll)

    def action_close(self) -> None:
        self.dismiss(None)
