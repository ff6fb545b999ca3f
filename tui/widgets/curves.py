"""The loss curves: smoothed training loss and held-out loss of one or more runs, on one chart
with labelled axes, over the whole run, redrawn as the runs go on.

Drawn with textual-plot's PlotWidget (why: NOTES-curves.md). Each run has a colour; the
training curve is a thin braille line, the held-out curve a blockier quadrant line, and the
best held-out point a diamond, so the three read apart without colour too. With several
runs each curve also ends in its run's letter, the key to the table under the chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.strip import Strip
from textual.widgets import Static
from textual_hires_canvas import Canvas
from textual_plot import HiResMode, LegendLocation, PlotWidget

from tui.runs.metrics import RunCurves, TrainPoint, ValPoint
from tui.widgets.curve_axes import si, x_formatter

X_AXES = ("iterations", "characters", "seconds")
X_LABELS = {"iterations": "iterations", "characters": "characters seen", "seconds": "training time"}
SHOWN = ("both", "held-out", "training")
TRAIN_MODE, VAL_MODE = HiResMode.BRAILLE, HiResMode.QUADRANT
BEST_MARKER = "◆"
TRAIN_LABEL = "training (smoothed)"
BUDGET_LABEL = "budget's end"
# Theme colours for runs in order (first one for a single run's training curve), with plain
# names for when a theme lacks one.
PALETTE = (
    ("primary", "cyan"),
    ("warning", "yellow"),
    ("success", "green"),
    ("error", "red"),
    ("secondary", "magenta"),
    ("accent", "blue"),
)
REDRAW_SECONDS = 0.5  # the chart redraws at most this often while points arrive
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# -- a fix for NO_COLOR ---------------------------------------------------------------------

# textual-hires-canvas (0.14) draws a canvas that has no size yet as a strip whose style is
# None, and Textual's monochrome filter (NO_COLOR) fails on a None style: the chart crashed
# the app under NO_COLOR. Give that empty strip the canvas's own style (test_curves checks).
_canvas_render_line = Canvas.render_line


def _render_line_styled(self: Canvas, y: int) -> Strip:
    strip = _canvas_render_line(self, y)
    return strip if strip.cell_length else Strip.blank(0, self.rich_style)


Canvas.render_line = _render_line_styled  # type: ignore[method-assign]


# -- from points to what is drawn ---------------------------------------------------------


def x_values(run: RunCurves, iterations: np.ndarray, x_axis: str) -> np.ndarray | None:
    """Where points at these iterations go on the x axis; None if the run cannot say."""
    if x_axis == "iterations":
        return iterations
    if x_axis == "characters":
        per = run.info.chars_per_iteration
        return None if per is None else (iterations + 1) * per  # after iteration n: n+1 steps
    timed = [p for p in run.metrics.train if p.time is not None]
    if not timed:
        return None
    # Held-out records carry no time: they sit at the training time of their iteration.
    known = np.array([p.iteration for p in timed], dtype=float)
    return np.interp(iterations, known, np.array([p.time for p in timed]))


def series(
    run: RunCurves, points: Sequence[TrainPoint] | Sequence[ValPoint], x_axis: str, log_x: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The plotted (x, y) of some points; with log x, log10(x) and only the points with x > 0
    (iteration 0 has no place on a log axis)."""
    iterations = np.array([p.iteration for p in points], dtype=float)
    ys = np.array([p.loss for p in points], dtype=float)
    xs = x_values(run, iterations, x_axis)
    if xs is None:
        return np.empty(0), np.empty(0)
    if log_x:
        keep = xs > 0
        xs, ys = np.log10(xs[keep]), ys[keep]
    return xs, ys


def budget_end(run: RunCurves) -> float | None:
    """The iteration at which the run's budget ends: its --iters, or where its training time
    reaches --minutes (between two records, or at the speed so far while it has not), the
    earlier of the two. None without a budget."""
    budget = run.info.budget
    if budget is None:
        return None
    ends = [] if budget.iterations is None else [float(budget.iterations)]
    timed = [p for p in run.metrics.train if p.time]
    if budget.seconds is not None and timed:
        its = np.array([p.iteration for p in timed], dtype=float)
        times = np.array([p.time for p in timed], dtype=float)
        if times[-1] >= budget.seconds:
            ends.append(float(np.interp(budget.seconds, times, its)))
        else:
            ends.append(its[-1] + (budget.seconds - times[-1]) * its[-1] / times[-1])
    return min(ends, default=None)


def thin(xs: np.ndarray, ys: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `bins` points: the mean of the points in each of `bins` equal slices of the x
    range (on screen, so a log axis keeps its early detail). A long run draws as fast as a
    short one and looks the same, since one cell cannot show more."""
    if len(xs) <= bins:
        return xs, ys
    lo, hi = float(xs.min()), float(xs.max())
    if hi <= lo:  # all at one x: one point, their mean
        return xs[:1], np.array([ys.mean()])
    which = np.minimum(((xs - lo) / (hi - lo) * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    filled = counts > 0
    mean_x = np.bincount(which, xs, minlength=bins)[filled] / counts[filled]
    mean_y = np.bincount(which, ys, minlength=bins)[filled] / counts[filled]
    return mean_x, mean_y


@dataclass(frozen=True)
class Line:
    """One curve ready to draw: a run's training or held-out loss, in plot coordinates."""

    run: int
    kind: str  # "training" or "held-out"
    xs: np.ndarray
    ys: np.ndarray


HEAD = 0.05  # in linear x, the top of the chart ignores this first part of the x range
HEAD_MIN_POINTS = 10  # ... once a curve has this many points (a run just started shows all)


def y_range(lines: Sequence[Line], log_x: bool) -> tuple[float, float] | None:
    """The chart's loss range. With linear x the first steep drop from ln(V) would squash
    the rest into a few rows, so the top is the highest loss after the first HEAD of the x
    range (the drop runs off the top; log x or zooming out shows it whole)."""
    if not lines:
        return None
    ys = np.concatenate([line.ys for line in lines])
    lo, hi = float(ys.min()), float(ys.max())
    if not log_x and all(len(line.xs) >= HEAD_MIN_POINTS for line in lines):
        x_lo = min(float(line.xs.min()) for line in lines)
        x_hi = max(float(line.xs.max()) for line in lines)
        cut = x_lo + HEAD * (x_hi - x_lo)
        tails = [t for t in (line.ys[line.xs >= cut] for line in lines) if len(t)]
        hi = max(float(t.max()) for t in tails) if tails else hi
    pad = 0.04 * (hi - lo) if hi > lo else 0.05
    return lo - pad, hi + pad


def letter_places(
    lines: Sequence[Line], y_limits: tuple[float, float] | None, cells: tuple[int, int]
) -> list[tuple[float, float]]:
    """Where each curve's run letter goes: on its last point, moved left a cell at a time
    while another letter has that cell (curves that end close together would hide each
    other's), and a little inside the frame, which is drawn over the chart's edge."""
    if not lines:
        return []
    x_lo = min(float(line.xs.min()) for line in lines)
    x_hi = max(float(line.xs.max()) for line in lines)
    ys = np.concatenate([line.ys for line in lines])
    y_lo, y_hi = y_limits or (float(ys.min()), float(ys.max()))
    cols, rows = cells
    x_cell = (x_hi - x_lo) / cols or 1.0
    y_cell = (y_hi - y_lo) / rows or 1.0
    taken: list[tuple[int, float]] = []  # (column, fractional row) of letters placed

    def clash(col: int, row: float) -> bool:
        return any(c == col and abs(r - row) < 1.0 for c, r in taken)

    places = []
    for line in lines:
        x, y = min(float(line.xs[-1]), x_hi - x_cell), float(line.ys[-1])
        row = (y - y_lo) / y_cell
        while round((x - x_lo) / x_cell) > 0 and clash(round((x - x_lo) / x_cell), row):
            x -= 2 * x_cell
        taken.append((round((x - x_lo) / x_cell), row))
        places.append((max(x, x_lo), y))
    return places


@dataclass(frozen=True)
class Drawn:
    """One thing drawn on the chart (what tests check, and a summary of the picture)."""

    run: int
    kind: str  # "training", "held-out", "best" or "letter"
    points: int


def available_x_axes(runs: Sequence[RunCurves]) -> list[str]:
    """The x axes every run can be drawn on: characters need the config, time the records."""
    probe = np.zeros(1)
    return [
        axis
        for axis in X_AXES
        if all(x_values(run, probe, axis) is not None or not run.metrics.train for run in runs)
    ]


# -- the widget ------------------------------------------------------------------------------


class LossPlot(PlotWidget, inherit_bindings=False):
    """PlotWidget with room for our labels (nats/char ticks are short: a narrow margin) and
    its zoom keys kept out of the footer, which has little room at 80 columns."""

    DEFAULT_CSS = """
    LossPlot { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("plus,equals_sign", "zoom_in", "Zoom in", show=False),
        Binding("minus", "zoom_out", "Zoom out", show=False),
        Binding("left", "pan_left", "Pan left", show=False),
        Binding("right", "pan_right", "Pan right", show=False),
        Binding("up", "pan_up", "Pan up", show=False),
        Binding("down", "pan_down", "Pan down", show=False),
    ]
    margin_left = reactive(7)
    margin_top = reactive(1)

    def __init__(self, *, zoom_keys: bool, **kwargs) -> None:
        super().__init__(**kwargs)
        # Its keys only where nothing else wants them (not in the console, where + and -
        # are the temperature); the mouse wheel zooms and dragging pans either way.
        self.can_focus = zoom_keys
        self.zoomed = False  # the user zoomed or panned: redraws keep their view
        self._resetting = False

    def action_reset_scales(self) -> None:
        self._resetting = True  # the ScaleChanged this posts is not the user's zoom
        super().action_reset_scales()

    @on(PlotWidget.ScaleChanged)
    def _scale_changed(self) -> None:
        self.zoomed = not self._resetting
        self._resetting = False


class LossCurves(Vertical):
    """Training and held-out loss of `runs` on one chart, and a table of their figures.

    Feed it by adding points to a run's `metrics` (or `add_train`/`add_val` for the first
    run); it redraws at most every REDRAW_SECONDS when something changed. Runs with a
    `source` file are followed by whoever polls them (see tui/compare.py, CurvesScreen).
    """

    DEFAULT_CSS = """
    LossCurves { height: 1fr; }
    LossCurves > #curves-table { height: auto; max-height: 9; padding: 0 1; }
    """

    log_x: reactive[bool] = reactive(False)
    x_axis: reactive[str] = reactive("iterations")
    shown: reactive[str] = reactive("both")

    def __init__(self, runs: Sequence[RunCurves], *, zoom_keys: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.runs = list(runs)
        self.zoom_keys = zoom_keys
        self.drawn: list[Drawn] = []
        self._drawn_key: tuple | None = None

    def compose(self) -> ComposeResult:
        self.plot = LossPlot(zoom_keys=self.zoom_keys, id="curves-plot")
        self.table = Static(id="curves-table")
        yield self.plot
        yield self.table

    def on_mount(self) -> None:
        self.plot.show_legend(LegendLocation.TOPRIGHT)
        self.set_interval(REDRAW_SECONDS, self.redraw_if_changed)
        self.call_after_refresh(self.redraw)

    # -- what the keys do ---------------------------------------------------------------------

    def toggle_log_x(self) -> None:
        self.log_x = not self.log_x

    def next_x_axis(self) -> None:
        axes = available_x_axes(self.runs)
        at = axes.index(self.x_axis) if self.x_axis in axes else -1
        self.x_axis = axes[(at + 1) % len(axes)]

    def next_shown(self) -> None:
        self.shown = SHOWN[(SHOWN.index(self.shown) + 1) % len(SHOWN)]

    def watch_log_x(self) -> None:
        self._axes_changed()

    def watch_x_axis(self) -> None:
        self._axes_changed()

    def watch_shown(self) -> None:
        self.redraw()

    def _axes_changed(self) -> None:
        if self.is_mounted:
            self.plot.action_reset_scales()  # a zoom on the old axis means nothing on the new
            self.redraw()

    # -- feeding one run (the console) ---------------------------------------------------------

    def add_train(self, iteration: int, loss: float, time: float | None = None) -> None:
        if math.isfinite(loss):
            self.runs[0].metrics.add_train(iteration, loss, time)

    def add_val(self, iteration: int, loss: float) -> None:
        if math.isfinite(loss):
            self.runs[0].metrics.add_val(iteration, loss)

    # -- drawing -------------------------------------------------------------------------------

    def _state_key(self) -> tuple:
        versions = tuple(run.metrics.version for run in self.runs)
        plot = self.plot
        return (versions, self.log_x, self.x_axis, self.shown, plot.size, plot.zoomed)

    def redraw_if_changed(self) -> None:
        if self._state_key() != self._drawn_key:
            self.redraw()

    def redraw(self) -> None:
        if not self.is_mounted:
            return
        if self.x_axis not in available_x_axes(self.runs):
            self.x_axis = "iterations"  # its watcher redraws
            return
        self._drawn_key = self._state_key()
        plot = self.plot
        plot.clear()
        plot.set_x_formatter(x_formatter(self.x_axis, self.log_x))
        plot.set_xlabel(X_LABELS[self.x_axis] + (" (log scale)" if self.log_x else ""))
        plot.set_ylabel("nats/char")
        several = len(self.runs) > 1
        if several:
            self._legend_keys()
        lines = self._lines(bins=max(64, 2 * plot.size.width))
        limits = None if plot.zoomed else y_range(lines, self.log_x)
        if not plot.zoomed:
            plot.set_ylimits(*(limits or (None, None)))
        drawn = [self._draw_line(line, labelled=not several) for line in lines]
        drawn += self._draw_best(labelled=not several)
        drawn += self._draw_budget_ends(lines, limits, labelled=not several)
        if several:
            drawn += self._draw_letters(lines, limits)
        self.drawn = drawn
        self.table.update(self._table())

    def _lines(self, bins: int) -> list[Line]:
        """The curves to draw now: each run's training and held-out loss, as shown."""
        lines = []
        for i, run in enumerate(self.runs):
            kinds = []
            if self.shown != "held-out":
                kinds.append(("training", run.metrics.train))
            if self.shown != "training":
                kinds.append(("held-out", run.metrics.val))
            for kind, points in kinds:
                xs, ys = thin(*series(run, points, self.x_axis, self.log_x), bins)
                if len(xs):
                    lines.append(Line(i, kind, xs, ys))
        return lines

    def _colour(self, i: int, kind: str = "training") -> str:
        if len(self.runs) == 1 and kind != "training":
            i = 1  # one run: held-out in the second colour, so the two differ twice over
        name, fallback = PALETTE[i % len(PALETTE)]
        return self.app.theme_variables.get(name, fallback)

    def _legend_keys(self) -> None:
        """With several runs, the legend names the kinds of line; colours and letters name
        the runs (the table). Empty series in the text colour make those legend entries."""
        ink = self.app.theme_variables.get("foreground", "white")
        empty = np.empty(0)
        if self.shown != "held-out":
            self.plot.plot(empty, empty, ink, hires_mode=TRAIN_MODE, label=TRAIN_LABEL)
        if self.shown != "training":
            self.plot.plot(empty, empty, ink, hires_mode=VAL_MODE, label="held-out")
            self.plot.scatter(empty, empty, marker=BEST_MARKER, marker_style=ink, label="best")

    def _draw_line(self, line: Line, labelled: bool) -> Drawn:
        mode = TRAIN_MODE if line.kind == "training" else VAL_MODE
        colour = self._colour(line.run, line.kind)
        label = (TRAIN_LABEL if line.kind == "training" else "held-out") if labelled else None
        if len(line.xs) == 1:  # a line needs two points; one is still worth seeing
            self.plot.scatter(line.xs, line.ys, marker_style=colour, hires_mode=mode, label=label)
        else:
            self.plot.plot(line.xs, line.ys, colour, hires_mode=mode, label=label)
        return Drawn(line.run, line.kind, len(line.xs))

    def _draw_best(self, labelled: bool) -> list[Drawn]:
        if self.shown == "training":
            return []
        drawn = []
        for i, run in enumerate(self.runs):
            best = run.metrics.best_val
            if best is None:
                continue
            xs, ys = series(run, [best], self.x_axis, self.log_x)
            if len(xs):
                label = f"best held-out {best.loss:.4f}" if labelled else None
                style = f"bold {self._colour(i, 'held-out')}"
                self.plot.scatter(xs, ys, marker=BEST_MARKER, marker_style=style, label=label)
                drawn.append(Drawn(i, "best", 1))
        return drawn

    def _draw_budget_ends(
        self, lines: list[Line], limits: tuple[float, float] | None, labelled: bool
    ) -> list[Drawn]:
        """A vertical line where each run's budget (--minutes, --iters) ends."""
        ys = [y for line in lines for y in line.ys]
        low, high = limits or ((min(ys), max(ys)) if ys else (None, None))
        if low is None or high is None:
            return []
        drawn = []
        for i, run in enumerate(self.runs):
            end = budget_end(run)
            xs = None if end is None else x_values(run, np.array([end]), self.x_axis)
            if xs is None or (self.log_x and xs[0] <= 0):
                continue
            x = float(np.log10(xs[0]) if self.log_x else xs[0])
            label = BUDGET_LABEL if labelled else None
            style = f"dim {self._colour(i)}"
            self.plot.plot([x, x], [low, high], style, hires_mode=TRAIN_MODE, label=label)
            drawn.append(Drawn(i, "budget", 1))
        return drawn

    def _draw_letters(self, lines: list[Line], limits: tuple[float, float] | None) -> list[Drawn]:
        plot = self.plot
        cells = (
            max(plot.size.width - plot.margin_left - 2, 1),
            max(plot.size.height - plot.margin_top - plot.margin_bottom - 2, 1),
        )
        for line, (x, y) in zip(lines, letter_places(lines, limits, cells), strict=True):
            style = f"bold {self._colour(line.run)}"
            plot.scatter([x], [y], marker=LETTERS[line.run], marker_style=style)
        return [Drawn(line.run, "letter", 1) for line in lines]

    def _table(self) -> Table:
        several = len(self.runs) > 1
        table = Table(box=None, padding=(0, 1), expand=True, header_style="bold")
        if several:
            table.add_column("", no_wrap=True, width=1)
        table.add_column("run", no_wrap=True, overflow="ellipsis", ratio=1)
        for name, width in (("iter", 7), ("train", 6), ("held-out", 8), ("best held-out", 15)):
            table.add_column(name, justify="right", no_wrap=True, min_width=width)
        for i, run in enumerate(self.runs):
            row = _figures(run)
            if several:
                row.insert(0, Text(LETTERS[i], style=f"bold {self._colour(i)}"))
            table.add_row(*row)
        return table


def _figures(run: RunCurves) -> list[Text | str]:
    m = run.metrics
    last = m.last_iteration
    train = f"{m.train[-1].loss:.4f}" if m.train else "—"
    val = f"{m.val[-1].loss:.4f}" if m.val else "—"
    best = m.best_val
    best_text = f"{best.loss:.4f} @ {si(best.iteration)}" if best else "—"
    label = f"{run.name} · {run.info.describe()}" if run.name else run.info.describe()
    return [label, "—" if last is None else si(last), train, val, best_text]
