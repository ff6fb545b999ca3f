"""The x axis of the loss curves: tick labels short enough for 80 columns (10k, 2.5M, 30s,
2h), and the log axis textual-plot lacks (plot log10(x); ticks at decades, labelled x)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from math import ceil, floor, log10

from textual_plot.axis_formatter import AxisFormatter, NumericAxisFormatter


def si(value: float) -> str:
    """A tick label short enough for an 80-column axis: 2.5k, 12M."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def duration(seconds: float) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds:.3g}s"


class CountFormatter(NumericAxisFormatter):
    """textual-plot's 1-2-5 ticks, labelled 10k rather than 10000."""

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        return [si(t) for t in ticks]


class TimeFormatter(AxisFormatter):
    """Seconds on a linear axis: 1-2-5 ticks in seconds, minutes or hours, whichever the
    range is counted in (10s 20s 30s, or 2m 4m 6m), labelled like the duration() of a tick."""

    def _unit(self, max_: float) -> float:
        return next((size for size in (3600.0, 60.0) if max_ >= 2 * size), 1.0)

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        size = self._unit(max_)
        ticks = NumericAxisFormatter().get_ticks(min_ / size, max_ / size, max_ticks)
        return [t * size for t in ticks]

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        size = self._unit(max(ticks, default=0.0))
        unit = {3600.0: "h", 60.0: "m", 1.0: "s"}[size]
        return [f"{t / size:.3g}{unit}" for t in ticks]


# Nice durations for a log axis of seconds, from a tenth of a second to a week.
NICE_SECONDS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800)
NICE_SECONDS += (3600, 7200, 18000, 36000, 86400, 172800, 604800)


class LogFormatter(AxisFormatter):
    """Ticks for an axis that plots log10(x): decades (or 1-2-5 steps in a short range),
    labelled with x itself. textual-plot has no log axes; this is what makes one."""

    def __init__(self, seconds: bool = False) -> None:
        self.seconds = seconds

    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        if not (math.isfinite(min_) and math.isfinite(max_)) or max_ <= min_:
            return []
        if self.seconds:
            candidates = [float(s) for s in NICE_SECONDS]
        else:
            candidates = [
                m * 10.0**k for k in range(floor(min_), ceil(max_) + 1) for m in (1, 2, 5)
            ]
        inside = [log10(c) for c in candidates if min_ <= log10(c) <= max_]
        sparse = [t for t in inside if abs(t - round(t)) < 1e-9 or self.seconds]
        ticks = sparse if len(sparse) >= 3 or self.seconds else inside
        step = max(1, ceil(len(ticks) / max_ticks))
        return ticks[::step]

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        label = duration if self.seconds else si
        return [label(10.0**t) for t in ticks]


def x_formatter(x_axis: str, log_x: bool) -> AxisFormatter:
    if log_x:
        return LogFormatter(seconds=x_axis == "seconds")
    return TimeFormatter() if x_axis == "seconds" else CountFormatter()
