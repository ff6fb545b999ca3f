"""The inspect screen's views: a passage under a cursor, the top-k bars, the gate scatter and
the table of one training step. Each draws numbers or glyphs next to any colour."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import events
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from engine.inspect import GateSaturation, Passage, StepStats
from tui.inspect_text import (
    NO_GATES,
    PROBABILITY,
    Scale,
    layout_rows,
    saturation_plot,
    strip,
    visible,
)

EIGHTHS = " ▏▎▍▌▋▊▉█"
MIN_PLOT_WIDTH = 30


class PassageView(Widget, can_focus=True):
    """Rows of the passage's characters, each over a bar of its value; the row holding the
    cursor is always on screen."""

    DEFAULT_CSS = """
    PassageView { height: 1fr; padding: 0 1; }
    """

    cursor = reactive(0)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.passage: Passage | None = None
        self.values: Sequence[float | None] = ()
        self.scale: Scale = PROBABILITY
        self.top_row = 0
        self._layout: tuple[int, str, list[tuple[int, int]]] | None = None

    def show(self, passage: Passage, values: Sequence[float | None], scale: Scale) -> None:
        if passage is not self.passage:
            self.top_row = 0
        self.passage, self.values, self.scale = passage, values, scale
        self.cursor = min(self.cursor, len(passage) - 1)
        self.refresh()

    def rows(self) -> list[tuple[int, int]]:
        width = max(self.size.width, 8)
        text = self.passage.text if self.passage else ""
        if self._layout is None or self._layout[:2] != (width, text):
            self._layout = (width, text, layout_rows(text, width))
        return self._layout[2]

    def row_of(self, t: int) -> int:
        return next((i for i, (a, b) in enumerate(self.rows()) if a <= t < b), 0)

    def validate_cursor(self, t: int) -> int:
        return min(max(t, 0), len(self.passage) - 1) if self.passage else 0

    def move_rows(self, delta: int) -> None:
        """Up or down a display row, to the character under the same screen column."""
        rows = self.rows()
        here = self.row_of(self.cursor)
        target = min(max(here + delta, 0), len(rows) - 1)
        if target == here or self.passage is None:
            return
        column = self._cells(rows[here][0], self.cursor)
        start, end = rows[target]
        t = start
        while t < end - 1 and self._cells(start, t + 1) <= column:
            t += 1
        self.cursor = t

    def _cells(self, start: int, t: int) -> int:
        assert self.passage is not None
        return cell_len("".join(visible(c) for c in self.passage.text[start:t]))

    def on_click(self, event: events.Click) -> None:
        """Put the cursor on the character clicked (rows come in pairs: text, then bars)."""
        rows = self.rows()
        index = self.top_row + event.y // 2
        if self.passage is None or not 0 <= index < len(rows):
            return
        start, end = rows[index]
        x = event.x - self.styles.padding.left
        t = start
        while t < end - 1 and self._cells(start, t + 1) <= x:
            t += 1
        self.cursor = t

    def render(self) -> Text:
        if self.passage is None:
            return Text("")
        rows = self.rows()
        shown = max(self.size.height // 2, 1)
        here = self.row_of(self.cursor)
        if here < self.top_row:
            self.top_row = here
        elif here >= self.top_row + shown:
            self.top_row = here - shown + 1
        window = rows[self.top_row : self.top_row + shown]
        lines = strip(self.passage, self.values, self.scale, self.size.width, window, self.cursor)
        return Text("\n").join(lines)


def bar(fraction: float, width: int) -> str:
    """A horizontal bar `fraction` of `width` cells long, in eighths of a cell."""
    fraction = fraction if fraction > 0 else 0.0  # NaN (a diverged model) draws nothing
    eighths = round(min(fraction, 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


def top_k_text(passage: Passage, t: int, width: int) -> Text:
    """What the model expected after text[t]: one line per guess, the character, its
    probability and a bar; the actual next character is marked ◀."""
    actual = passage.text[t + 1] if t + 1 < len(passage) else None
    p = passage.char_prob(t)
    head = f"#{t} {visible(passage.text[t])} " + ("(first)" if p is None else f"(p = {p:.3f})")
    head += " · the model expected next:"
    if actual is not None and actual not in dict(passage.top(t)):
        head += f" (actual {visible(actual)}: p = {passage.target_prob[t]:.3f})"
    lines = [Text(head, style="bold")]
    room = max(width - 22, 5)
    for ch, q in passage.top(t):
        line = Text(f"  {visible(ch):<3}{q:6.3f} ")
        line.append(bar(q, room), Style(color=PROBABILITY.color(q)))
        if ch == actual:
            line.append(" ◀ next")
        lines.append(line)
    return Text("\n").join(lines)


def gates_text(saturations: Sequence[GateSaturation], layers: int, width: int, height: int) -> Text:
    """Each layer's saturation scatter, `height` rows tall, side by side while they fit."""
    if not saturations:
        return Text(NO_GATES)
    per_row = max(min(layers, width // MIN_PLOT_WIDTH), 1)
    plot_width = width // per_row - 1
    gates = ", ".join(dict.fromkeys(s.gate for s in saturations))
    lines = [
        Text(f"one letter per unit and gate ({gates}; * several) · up: share of steps > 0.9"),
        Text("(open) · across: share of steps < 0.1 (shut)"),
    ]
    for first in range(0, layers, per_row):
        group = range(first, min(first + per_row, layers))
        plots = [
            [
                f"layer {n}".center(plot_width),
                *saturation_plot([s for s in saturations if s.layer == n], plot_width, height),
            ]
            for n in group
        ]
        for parts in zip(*plots, strict=True):
            lines.append(Text(" ".join(p.ljust(plot_width) for p in parts)))
    return Text("\n").join(lines)


def _fmt(x: float) -> str:
    return "∞" if x == float("inf") else f"{x:.2e}"


def step_table(stats: StepStats) -> Group:
    """The window's loss before and after, then per parameter: gradient norm and largest
    |gradient| (before clipping), whether clipping changed it, and the update's size
    relative to the weights."""
    change = stats.loss_after - stats.loss_before
    head = Text(
        f"iteration {stats.iteration:,} · window loss {stats.loss_before:.4f} → "
        f"{stats.loss_after:.4f} nats/char ({change:+.4f})\n"
        f"lr {stats.lr:.3g} · all gradients' norm {stats.global_norm:.3g}"
        + (" · the data restarted: zero state" if stats.reset else "")
    )
    table = Table(box=None, padding=(0, 1), expand=False)
    for name, justify in (
        ("parameter", "left"),
        ("grad norm", "right"),
        ("max |grad|", "right"),
        ("clipped?", "center"),
        ("update/weight", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for p in stats.params:
        table.add_row(
            p.name,
            _fmt(p.grad_norm),
            _fmt(p.grad_max),
            "yes" if p.clipped else "no",
            _fmt(p.update_ratio),
        )
    return Group(head, Text(""), table)


class StepView(Static):
    DEFAULT_CSS = """
    StepView { height: 1fr; padding: 0 1; }
    """

    def show(self, stats: StepStats | None) -> None:
        if stats is None:
            self.update("press . to take one training step (while training is paused)")
        else:
            self.update(step_table(stats))
