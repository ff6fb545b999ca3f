"""What the inspect screen's window (`w`), through-time (`b`) and chain-rule (Enter) views
show, as text: which window (the next step's, or after `.` the step just taken), which layer,
stream, time step and unit, and the measurements, made on request and kept until the
snapshot changes. No Textual here: the screen draws what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.text import Text

from engine.chain_rule import ChainStep, chain_step, has_terms
from engine.inspect import Snapshot
from engine.through_time import Flow, WindowPass
from engine.window import WindowRecord
from tui.docs_pointers import VIEW_DOCS
from tui.through_time_text import (
    WINDOW_DOCS,
    chain_lines,
    chart_lines,
    check_lines,
    clipping_line,
    never_targets,
    step_detail,
    stream_lines,
    window_head,
)
from tui.visible import visible

NO_WINDOW = "this snapshot holds no training window (it was written by an older charrnn)"


@dataclass
class Drawn:
    """One view's text: the title's end, the header line, the body and the detail panel."""

    title: str
    header: str
    body: list[Text]
    detail: list[str]


class BackpropViews:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.layer = 0
        self.column = 0  # which of the window's shown streams
        self.t: int | None = None  # the chosen time step (None: the last)
        self.unit: int | None = None  # the chain rule's unit (None: the largest |dh|)
        self._measured: dict[tuple[bool, int], tuple[WindowPass, Flow]] = {}

    # -- what is shown -------------------------------------------------------------------------

    @property
    def record(self) -> WindowRecord | None:
        """The step just taken when there is one, else the next step's window."""
        return self.snapshot.taken or self.snapshot.next

    def set_snapshot(self, snapshot: Snapshot) -> None:
        """New weights (after `.`): measure again; the chosen layer, stream and unit stay."""
        self.snapshot = snapshot
        self._measured.clear()
        record = self.record
        if record is not None:
            self.column = min(self.column, len(record.window.streams) - 1)
            self.t = None if self.t is None else min(self.t, record.window.seq_length - 1)

    @property
    def which(self) -> str:
        record = self.record
        if record is None:
            return ""
        w = record.window
        return (
            f"step just taken, iter {w.iteration:,}"
            if w.taken
            else f"next step, iter {w.iteration:,}"
        )

    def measured(self) -> tuple[WindowPass, Flow]:
        record = self.record
        assert record is not None
        key = (record.window.taken, self.column)
        if key not in self._measured:
            config, vocab = self.snapshot.config, self.snapshot.vocab
            with np.errstate(all="ignore"):  # a diverged model's inf and NaN are drawn blank
                wp = WindowPass(config, len(vocab), record.replay, self.column)
                stream = record.window.streams[self.column].stream
                self._measured[key] = (wp, wp.flow(stream, vocab))
        return self._measured[key]

    def step(self) -> int:
        record = self.record
        last = (record.window.seq_length if record else 1) - 1
        return last if self.t is None else min(max(self.t, 0), last)

    # -- moving --------------------------------------------------------------------------------

    def move(self, delta: int) -> None:
        self.t = self.step() + delta

    def to(self, where: int) -> None:
        self.t = where if where >= 0 else None

    def next_layer(self) -> None:
        self.layer = (self.layer + 1) % self.snapshot.config.layers

    def next_stream(self) -> None:
        record = self.record
        if record is not None:
            self.column = (self.column + 1) % len(record.window.streams)

    def move_unit(self, delta: int) -> None:
        hidden = self.snapshot.config.hidden
        self.unit = (self.chain_unit() + delta) % hidden

    def chain_unit(self) -> int:
        if self.unit is not None:
            return self.unit
        wp, _ = self.measured()
        return int(np.abs(wp.handed_on(self.layer, self.step(), 0)[0]).argmax())

    # -- the views -----------------------------------------------------------------------------

    def window_view(self, width: int) -> Drawn:
        record = self.record
        if record is None:
            return Drawn("window", NO_WINDOW, [], [])
        w = record.window
        stream = w.streams[self.column].stream
        body = [*window_head(w)]
        if w.batch > 1:
            others = " · ".join(
                ("▶" if i == self.column else "") + str(s.stream) for i, s in enumerate(w.streams)
            )
            body.append(f"streams shown: {others} of {w.batch} (m: the next one)")
        body += ["", *stream_lines(w, stream, width, selected=w.batch > 1)]
        detail = [
            "each target is the next input: read the target row one place to the left",
            f"never a target at T = {w.seq_length}: each lane's first character and its last "
            f"{never_targets(w):,} (░)",
            f". trains {'the next' if w.taken else 'this'} window: watch p move by T · b: its "
            "gradient through time",
            clipping_line(record.clipping) + (" (did)" if w.taken else " (will do)"),
            WINDOW_DOCS,
        ]
        header = "the training window: input characters over their targets, and where they are"
        return Drawn(f"window ({self.which})", header, _texts(body), detail)

    def through_view(self, width: int) -> Drawn:
        record = self.record
        if record is None:
            return Drawn("through time", NO_WINDOW, [], [])
        _, flow = self.measured()
        t = self.step()
        header = (
            f"layer {self.layer} of {len(flow.layers)} (l) · stream {flow.stream} of "
            f"{record.window.batch} (m) · ←→ step · Enter: chain rule"
        )
        body = chart_lines(flow, self.layer, width, t)
        detail = step_detail(flow, self.layer, t, record.clipping)
        return Drawn(f"through time ({self.which})", header, body, detail)

    def chain(self) -> ChainStep:
        wp, _ = self.measured()
        with np.errstate(all="ignore"):
            return chain_step(wp, self.layer, self.step(), self.chain_unit(), self.snapshot.vocab)

    def chain_view(self) -> Drawn:
        if self.record is None:
            return Drawn("chain rule", NO_WINDOW, [], [])
        step = self.chain()
        lines = chain_lines(step)
        header = (
            f"t = {step.t} ({visible(step.input)} → {visible(step.target)}) · layer "
            f"{step.layer} · unit {step.unit} of {self.snapshot.config.hidden} ([ ]) · ←→ step"
        )
        detail = [
            *check_lines(step),
            "L = Σ L_t: this stream's window loss (training adds every stream's)",
            "dh_next carries the gradient on to step t−1: ← follows it"
            + ("" if has_terms(step.cell) else " · your cell: its equations, no terms"),
            VIEW_DOCS["chain"],
        ]
        return Drawn(f"chain rule ({self.which})", header, _texts(lines[1:]), detail)


def _texts(lines: list[str]) -> list[Text]:
    return [Text(line, no_wrap=True, overflow="ellipsis") for line in lines]
