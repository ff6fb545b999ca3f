"""The training window and backpropagation through time as text: what `charrnn inspect
--window` and `--through-time` print, and the pieces the console's `w`, `b` and chain-rule
views draw. Every value is a number or a glyph's height, never a colour alone.

Docs: docs/learn.md, "Backpropagation through time" (DOCS_ANCHOR).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text

from engine.chain_rule import ChainStep
from engine.optim import Clipping
from engine.through_time import Flow, LayerFlow
from engine.window import Window
from tui.docs_pointers import VIEW_DOCS
from tui.visible import visible

DOCS_ANCHOR = VIEW_DOCS["through"]
WINDOW_DOCS = VIEW_DOCS["window"]
BARS = "▁▂▃▄▅▆▇█"
DECADES = 7  # the log chart's rows: 100% of the last step's size down to 1e-6 of it
LABEL = 10  # cells of row labels in the chart
# Where each built-in cell's backward pass is written as the chain-rule view lays it out.
BACKWARD_SOURCES = {
    "rnn": "min-char-rnn's backward loop (engine/cells/textbook/rnn.py)",
    "lstm": "the textbook LSTM's backward (engine/cells/textbook/lstm.py)",
    "gru": "the textbook GRU's backward (engine/cells/textbook/gru.py)",
}
# The log chart's rows, labelled by their top: ‖∂L_T/∂s_t‖ over its size at the last step.
CHART_LABELS = ("∂L_T ×1", "  ×0.1", " ×0.01 1%", "  ×1e-3", "  ×1e-4", "  ×1e-5", "  ×1e-6")


# -- numbers -----------------------------------------------------------------------------------


def sci(x: float | None) -> str:
    """A gradient's size: 3 significant digits, as 1.23e-04 when small or large."""
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 or x == 0 else f"{x:.2e}"


def percent(x: float) -> str:
    """A fraction of the last step's size: 100%, 4.2%, 0.031%, 2e-07%."""
    if not math.isfinite(x):
        return "—"
    p = 100 * x
    if p >= 10:
        return f"{p:.0f}%"
    return f"{p:.2g}%" if p >= 1e-3 else f"{p:.0e}%"


def log_level(fraction: float, decades: int = DECADES) -> float:
    """0 … 1: where `fraction` (of the largest) sits on a log scale of `decades` decades."""
    if not fraction > 0:
        return 0.0
    return min(max(1 + math.log10(fraction) / decades, 0.0), 1.0)


def glyph(level: float) -> str:
    """One cell's bar for 0 … 1 (blank at 0, and for a value that is not a number)."""
    if not level > 0:
        return " "
    return BARS[min(int(level * len(BARS)), len(BARS) - 1)]


def clipping_short(c: Clipping) -> str:
    """What clipping did, in a few words: ±5 changed 2 of 25,175 · norm 7.1 × 0.7 · none."""
    parts = []
    if c.clip > 0:
        parts.append(f"±{c.clip:g} changed {c.changed:,} of {c.elements:,}")
    if c.clip_norm > 0:
        parts.append(
            f"norm {c.norm:.3g} × {c.scale:.3g}" if c.scale < 1 else f"norm {c.norm:.3g} kept"
        )
    return " · ".join(parts) or "none"


def clipping_line(c: Clipping) -> str:
    """What clipping did (or does) to the window's summed gradient, in one line."""
    parts = []
    if c.clip > 0:
        where = ", ".join(
            f"{k} {n:,}" for k, n in sorted(c.by_param.items(), key=lambda kv: -kv[1])[:2]
        )
        parts.append(
            f"±{c.clip:g} changed {c.changed:,} of {c.elements:,} elements"
            + (f" ({where})" if where else "")
        )
    if c.clip_norm > 0:
        did = f"× {c.scale:.3g}" if c.scale < 1 else "not scaled"
        parts.append(f"norm {c.norm:.3g}, limit {c.clip_norm:g}: {did}")
    return "clipping: " + (" · ".join(parts) if parts else f"none (norm {c.norm:.3g})")


# -- the window ----------------------------------------------------------------------------------


def never_targets(window: Window) -> int:
    """Characters at the end of each lane that no window at this T ever predicts."""
    per_epoch = max(1, -(-(window.lane - 1) // window.seq_length) - 1)
    return window.lane - 1 - per_epoch * window.seq_length


def window_head(window: Window) -> list[str]:
    """Which window, where the pointer is, whether the state restarts, the carried state."""
    which = "the step just taken" if window.taken else "the window the next step reads"
    lanes = (
        f"in each of {window.batch} lanes of {window.lane:,}"
        if window.batch > 1
        else f"of {window.lane:,}"
    )
    names = ", ".join(window.state_names)
    layers = f"{window.layers} layers × " if window.layers > 1 else ""
    return [
        f"{which} · iteration {window.iteration:,} · epoch {window.epoch}",
        f"T = {window.seq_length} characters from p = {window.position:,} {lanes} · each step: "
        "p += T",
        f"state: {window.reason}",
        f"carried state: {window.state_size:,} numbers a stream ({layers}{names}: {window.hidden})",
    ]


def corpus_bar(window: Window, stream: int, width: int) -> str:
    """The training text as a bar: ┼ between lanes, ░ over the characters at the end of each
    lane that are never a target, █ where this stream's window is."""
    cells = max(width - 2, 4)
    n = max(window.corpus, 1)
    bar = ["─"] * cells
    lost = never_targets(window)
    for lane in range(1, window.batch + 1):
        end = lane * window.lane
        for i in range(int((end - lost) / n * cells), min(int(end / n * cells), cells)):
            bar[i] = "░"
        if lane < window.batch:
            bar[min(int(end / n * cells), cells - 1)] = "┼"
    start = window.stream(stream).start
    first = min(int(start / n * cells), cells - 1)
    last = min(max(int((start + window.seq_length) / n * cells), first), cells - 1)
    for i in range(first, last + 1):
        bar[i] = "█"
    return "├" + "".join(bar) + "┤"


def aligned_rows(a: str, b: str, width: int) -> list[tuple[str, str]]:
    """`a` over `b`, character under character (visible forms, padded to the wider), wrapped
    at `width` cells; a space between columns when the whole fits that way."""
    cols = [(visible(x), visible(y)) for x, y in zip(a, b, strict=True)]
    sizes = [max(cell_len(x), cell_len(y)) for x, y in cols]
    gap = " " if sum(sizes) + len(sizes) <= width else ""
    rows: list[tuple[str, str]] = []
    top, bottom, used = "", "", 0
    for (x, y), size in zip(cols, sizes, strict=True):
        if used + size > width and used:
            rows.append((top, bottom))
            top, bottom, used = "", "", 0
        top += x + " " * (size - cell_len(x)) + gap
        bottom += y + " " * (size - cell_len(y)) + gap
        used += size + len(gap)
    rows.append((top, bottom))
    return rows


def stream_lines(window: Window, stream: int, width: int, selected: bool = False) -> list[str]:
    """One stream: where it reads in the corpus (a bar), its inputs over its targets."""
    s = window.stream(stream)
    mark = "▶ " if selected else ""
    head = (
        f"{mark}stream {stream} of {window.batch} · characters {s.start:,}–"
        f"{s.start + window.seq_length - 1:,} of {window.corpus:,} · ‖state‖ {s.state_norm:.3g}"
    )
    lines = [head, "corpus  " + corpus_bar(window, stream, width - 8)]
    for top, bottom in aligned_rows(s.inputs, s.targets, width - 8):
        lines += ["input   " + top.rstrip(), "target  " + bottom.rstrip()]
    return lines


def render_window(window: Window, clipping: Clipping | None, width: int = 80) -> str:
    """What `charrnn inspect CKPT --window` prints."""
    lines = window_head(window)
    for s in window.streams:
        lines += ["", *stream_lines(window, s.stream, width)]
    lines.append("")
    lost = never_targets(window)
    lines.append(
        f"never a target at T = {window.seq_length}: the first character of each lane and "
        f"its last {lost:,} (░: the pointer wraps first)"
    )
    if clipping is not None:
        lines.append(clipping_line(clipping) + " (the window's summed gradient)")
    lines.append("each target is the next input: read the target row one place to the left")
    lines.append(f"see {WINDOW_DOCS}")
    return "\n".join(lines)


# -- through time: the per-step table ------------------------------------------------------------


def flow_title(flow: Flow, cell: str, source: str) -> list[str]:
    return [
        f"through time · {cell} · stream {flow.stream} · {source}",
        "L = Σ L_t, this stream's window loss · L_T = the last step's loss alone · nats",
    ]


def horizon_line(lf: LayerFlow, steps: int) -> str:
    reach = (
        f"all {steps} steps back, to the state it began from"
        if lf.horizon >= steps
        else f"{lf.horizon} steps back"
    )
    return (
        f"layer {lf.layer}: the last step's gradient stays ≥ 1% of its size for {reach} "
        "(the horizon)"
    )


def table_rows(flow: Flow, lf: LayerFlow) -> list[str]:
    """The table of one layer: a row for the carried state, then one per step."""
    parts = [n for n in lf.state_names if len(lf.state_names) > 1]
    head = f"{'t':>5} {'in':>3} {'tgt':>3} {'L_t':>6} {'‖∂L/∂h_t‖':>10}"
    head += "".join(f" {'‖∂L_T/∂' + n + '_t‖':>11}" for n in parts)
    head += f" {'‖∂L_T/∂s_t‖':>11} {'of last':>8} {'log':<3} {'factor':>6}"
    head += "  ‖Whhᵀdiag(1−h²)‖" if lf.analytic is not None else ""
    rows = [head]
    rel = lf.relative
    for i in range(flow.steps + 1):
        t = i - 1
        if t < 0:
            row = f"{'start':>5} {'(the state it began from)':>28}"
        else:
            x, y = visible(flow.inputs[t]), visible(flow.targets[t])
            row = f"{t:>5} {x:>3} {y:>3} {flow.loss[t]:>6.3f} {sci(lf.grad_h[t]):>10}"
        row += "".join(f" {sci(lf.last_parts[n][i]):>11}" for n in parts)
        row += f" {sci(lf.last[i]):>11} {percent(rel[i]):>8} {glyph(log_level(rel[i])):<3}"
        if t >= 0:
            row += f" {sci(lf.factor[t]):>6}"
            if lf.analytic is not None:
                row += f"  {sci(lf.analytic[t]):>15}"
        rows.append(row)
    return rows


def render_flow(flow: Flow, cell: str, source: str, clipping: Clipping | None) -> str:
    """What `charrnn inspect CKPT --through-time` prints: a table per layer."""
    lines = flow_title(flow, cell, source)
    if clipping is not None:
        lines.append(clipping_line(clipping))
    for lf in flow.layers:
        lines += ["", horizon_line(lf, flow.steps), *table_rows(flow, lf)]
    lines += [
        "",
        "‖∂L/∂h_t‖: what reaches h_t from the whole window (min-char-rnn's dh) · "
        "‖∂L_T/∂s_t‖: the last step's loss alone, at the state step t hands on",
        "factor: ‖∂L_T/∂s_{t−1}‖ / ‖∂L_T/∂s_t‖, measured one step back"
        + (
            " · ‖Whhᵀdiag(1−h²)‖: the most that step can stretch it"
            if flow.layers[0].analytic is not None
            else ""
        ),
        f"see {DOCS_ANCHOR}",
    ]
    return "\n".join(lines)


def _num(x: float) -> float | None:
    return round(float(x), 8) if math.isfinite(x) else None


def flow_json(flow: Flow) -> dict:
    return {
        "stream": flow.stream,
        "inputs": flow.inputs,
        "targets": flow.targets,
        "loss": [_num(v) for v in flow.loss],
        "layers": [
            {
                "layer": lf.layer,
                "state_names": list(lf.state_names),
                "horizon": lf.horizon,
                "start": {"last": _num(lf.last[0]), "relative": _num(lf.relative[0])},
                "steps": [
                    {
                        "t": t,
                        "grad_h": _num(lf.grad_h[t]),
                        "last": _num(lf.last[t + 1]),
                        "last_parts": {n: _num(v[t + 1]) for n, v in lf.last_parts.items()},
                        "relative": _num(lf.relative[t + 1]),
                        "factor": _num(lf.factor[t]),
                        "analytic": None if lf.analytic is None else _num(lf.analytic[t]),
                    }
                    for t in range(flow.steps)
                ],
            }
            for lf in flow.layers
        ],
    }


# -- through time: the console's chart -------------------------------------------------------------


def column_layout(steps: int, width: int, cursor: int) -> tuple[int, range]:
    """(cells per step, the steps shown): as wide as fits, scrolled to keep the cursor in."""
    room = max(width - LABEL, 8)
    size = max(1, min(4, room // steps))
    shown = max(room // size, 1)
    first = min(max(cursor - shown // 2, 0), max(steps - shown, 0))
    return size, range(first, min(first + shown, steps))


def chart_lines(flow: Flow, layer: int, width: int, cursor: int) -> list[Text]:
    """The through-time chart: the window's characters as column headers, the loss and
    ‖∂L/∂h_t‖ as one-row bars, ‖∂L_T/∂s_t‖ as a log chart of DECADES rows (1% marked), and
    ▲ under the cursor's step."""
    lf = flow.layers[layer]
    size, steps = column_layout(flow.steps, width, cursor)

    def row(label: str, cells: Sequence[str]) -> Text:
        line = Text(label[: LABEL - 1].ljust(LABEL), no_wrap=True, overflow="ellipsis")
        for t, cell in zip(steps, cells, strict=True):
            line.append(
                cell.ljust(size)[:size] if cell_len(cell) <= size else cell,
                "reverse" if t == cursor else "",
            )
        return line

    loss_top = max(float(flow.loss.max()), 1e-12)
    grad_top = max(float(lf.grad_h.max()), 1e-300)
    rel = lf.relative[1:]
    lines = [
        row("input", [visible(flow.inputs[t]) for t in steps]),
        row("target", [visible(flow.targets[t]) for t in steps]),
        row("L_t", [glyph(flow.loss[t] / loss_top) for t in steps]),
        row("‖∂L/∂h_t‖", [glyph(lf.grad_h[t] / grad_top) for t in steps]),
    ]
    for r in range(DECADES):  # row r: 10^-(r+1) … 10^-r of the last step's size
        cells = []
        for t in steps:
            fill = min(max(math.log10(rel[t]) + r + 1, 0.0), 1.0) if rel[t] > 0 else 0.0
            cells.append((glyph(fill) if fill < 1 else "█") * size)
        lines.append(row(CHART_LABELS[r], cells))
    marks = [
        "▲" if t == cursor else ("─" * size if flow.steps - 1 - t <= lf.horizon else " ")
        for t in steps
    ]
    lines.append(row("horizon", marks))
    return lines


def step_detail(flow: Flow, layer: int, t: int, clipping: Clipping | None) -> list[str]:
    """The numbers of the cursor's step, each said in words."""
    lf = flow.layers[layer]
    back = flow.steps - 1 - t
    p = math.exp(-flow.loss[t])
    parts = ""
    if len(lf.state_names) > 1:
        parts = (
            " (" + ", ".join(f"{n} {sci(lf.last_parts[n][t + 1])}" for n in lf.state_names) + ")"
        )
    factor = f"factor t→t−1: {sci(lf.factor[t])}"
    if lf.analytic is not None:
        factor += f" (bound ‖Whhᵀdiag(1−h_t²)‖ {sci(lf.analytic[t])})"
    if t == 0:
        factor += f" · start state {percent(lf.relative[0])}"
    reach = "the whole window" if lf.horizon >= flow.steps else f"{lf.horizon} steps back"
    lines = [
        f"t = {t} · reads {visible(flow.inputs[t])} · target {visible(flow.targets[t])} · "
        f"L_t = {flow.loss[t]:.3f} nats (p = {p:.3f})",
        f"‖∂L/∂h_t‖ = {sci(lf.grad_h[t])}: the whole window's loss at h_t (min-char-rnn's dh)",
        f"‖∂L_T/∂s_t‖ = {sci(lf.last[t + 1])}{parts}: {percent(lf.relative[t + 1])} of its size "
        f"at the last step, {back} back",
        factor,
        f"horizon (≥ 1%): {reach}"
        + (f" · clipping: {clipping_short(clipping)}" if clipping else ""),
        "bars: L_t and ‖∂L/∂h_t‖ to scale; ‖∂L_T/∂s_t‖ (last loss alone) in decades",
        f"Enter: the chain rule here · {DOCS_ANCHOR}",
    ]
    return lines


# -- the chain rule ------------------------------------------------------------------------------


def chain_lines(step: ChainStep) -> list[str]:
    """The step's backward equations, each with the unit's numbers (built-in cells), or the
    cell's own equations and the sizes of what flows (a user's cell)."""
    head = (
        f"layer {step.layer} · t = {step.t} · reads {visible(step.input)} → target "
        f"{visible(step.target)} · unit {step.unit} · L = the window's loss"
    )
    lines = [head]
    if step.terms:
        width = max(cell_len(term.equation) for term in step.terms)
        for term in step.terms:
            lines.append(f"{term.equation.ljust(width)}  {term.numbers}")
    else:
        lines.append(
            f"{step.cell} declares (charrnn cannot see inside it, so no per-term numbers):"
        )
        lines += [f"  {eq}" for eq in step.equations]
    lines.append(" · ".join(f"{name} {sci(value)}" for name, value in step.norms))
    source = BACKWARD_SOURCES.get(step.cell.removeprefix("textbook-"))
    if source:
        lines.append(f"each line is {source}")
    return lines


def check_lines(step: ChainStep) -> list[str]:
    c = step.check
    ok = "they agree" if c.rel_error < 1e-5 else "they DISAGREE"
    if not (math.isfinite(c.analytic) and math.isfinite(c.numeric)):
        ok = "not numbers: the model diverged"
    part = "" if c.this_step is None else f"; step t adds {sci(c.this_step)}"
    return [
        f"check dL/d{c.label}, summed over the window{part}:",
        f"  analytic {c.analytic:+.6e} · finite difference {c.numeric:+.6e} · {ok}",
        f"  (two forward passes, float64, same state and masks; relative error {c.rel_error:.0e})",
    ]
