"""The loss panel: a scrolling sparkline of recent loss and the figures that matter."""

from __future__ import annotations

import math
import time
from collections import deque
from statistics import fmean

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Sparkline

WINDOW = 300  # points kept, enough for the widest terminal; the oldest drops off the left
PLOT_INTERVAL = (
    0.5  # seconds between sparkline redraws: drawing it is the costliest thing on screen
)
LN2 = math.log(2)


class Figures(Widget):
    """One line of numbers. Not a Static: Static.update() re-lays-out the whole screen,
    ten times a second; a reactive that only repaints this line costs far less."""

    text = reactive("")

    def render(self) -> Text:
        return Text(self.text, no_wrap=True, overflow="ellipsis")


class LossPanel(Vertical):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.points: deque[float] = deque(maxlen=WINDOW)
        self.smooth: float | None = None
        self.best: float | None = None  # best smoothed training loss
        self.val_loss: float | None = None
        self.best_val: float | None = None  # best held-out loss: the "best" that matters
        self._plotted_at = 0.0

    def compose(self) -> ComposeResult:
        self.sparkline = Sparkline([], summary_function=fmean, id="sparkline")
        self.figures_line = Figures(id="loss-figures")
        yield self.sparkline
        yield self.figures_line

    def reset(
        self,
        history: list[float],
        smooth: float,
        val_loss: float | None = None,
        best_val: float | None = None,
    ) -> None:
        """Start over from a model's history (on start, and when a checkpoint is loaded)."""
        self.points.clear()
        self.points.extend(x for x in history if math.isfinite(x))
        self.best = smooth if math.isfinite(smooth) else None
        self.smooth = smooth if math.isfinite(smooth) else None
        self.val_loss = val_loss
        self.best_val = best_val
        self._redraw()

    def add(self, losses: list[float], smooth: float, val_loss: float | None = None) -> None:
        """One point per batch of steps: their mean. Non-finite values never get in."""
        finite = [x for x in losses if math.isfinite(x)]
        if finite:
            self.points.append(fmean(finite))
        if math.isfinite(smooth):
            self.smooth = smooth
            self.best = smooth if self.best is None else min(self.best, smooth)
        if val_loss is not None and math.isfinite(val_loss):
            self.val_loss = val_loss
            self.best_val = val_loss if self.best_val is None else min(self.best_val, val_loss)
        # The figures change with every report; the plot redraws at most every PLOT_INTERVAL,
        # which the eye cannot tell apart and which keeps the UI thread's share small.
        if time.monotonic() - self._plotted_at >= PLOT_INTERVAL:
            self._plot()
        self.figures_line.text = self.figures()

    def _redraw(self) -> None:
        self._plot()
        self.figures_line.text = self.figures()

    def visible(self) -> list[float]:
        """The newest points, one per column: Sparkline squashes whatever it is given into
        its width, so handing it only what fits makes the plot scroll instead."""
        width = max(self.sparkline.size.width, 1)
        return list(self.points)[-width:]

    def _plot(self) -> None:
        self._plotted_at = time.monotonic()
        # A new list each time: reactives compare by value, so an in-place change would not draw.
        self.sparkline.data = self.visible()

    def on_resize(self) -> None:
        self._plot()

    def figures(self) -> str:
        if self.smooth is None:
            return "loss —"
        parts = [f"smoothed {self.smooth:.4f} nats/char ({self.smooth / LN2:.3f} bits)"]
        if self.val_loss is not None:
            parts.append(f"val {self.val_loss:.4f}")
        if self.best_val is not None:
            parts.append(f"best val {self.best_val:.4f}")
        elif self.best is not None:
            parts.append(f"best {self.best:.4f}")
        shown = self.visible()
        if shown:
            parts.append(f"scale {min(shown):.2f}–{max(shown):.2f}")
        return "  ".join(parts)
