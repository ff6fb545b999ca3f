"""What `charrnn inspect` prints, and the text pieces the console's inspect views share.

Every value drawn in colour is also drawn as a number or as a glyph's height, so the output
reads the same with NO_COLOR, on a monochrome terminal, or piped into a file:

- a passage is shown as rows of its characters (whitespace and control characters made
  visible) with a row of bar glyphs under each, ▁ (low) … █ (high);
- probabilities use a heat scale (improbable = hot red, expected = cool green);
- activations use a diverging scale (blue = low, grey = middle, red = high).
"""

from __future__ import annotations

import io
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.cells import cell_len
from rich.color import Color
from rich.console import Console
from rich.style import Style
from rich.text import Text

from engine.cells.base import Cell, Params, State
from engine.checkpoint import Checkpoint
from engine.errors import CharrnnError
from engine.inspect import (
    GateSaturation,
    Passage,
    UnitScore,
    default_passage,
    find_units,
    forward_passage,
    gate_saturation,
    too_long,
    unit_scores,
)
from engine.limits import MAX_PASSAGE_CHARS
from engine.model import CharModel
from tui.visible import visible

BARS = "▁▂▃▄▅▆▇█"
CURSOR_MARK = "▲"
BLACK, WHITE = Color.from_rgb(0, 0, 0), Color.from_rgb(255, 255, 255)
# (position on the scale 0..1, RGB): ColorBrewer's RdYlGn for probability, RdBu for activation.
HEAT = (
    (0.0, (215, 48, 39)),
    (0.25, (252, 141, 89)),
    (0.5, (254, 224, 139)),
    (0.75, (166, 217, 106)),
    (1.0, (26, 152, 80)),
)
DIVERGING = ((0.0, (33, 102, 172)), (0.5, (230, 230, 230)), (1.0, (178, 24, 43)))
FINDER_ROWS = 20
NO_GATES = "this cell has no gates: gate saturation needs a gated cell, such as lstm or gru"


# -- characters made visible (the rule itself is in tui/visible.py) -----------------------


def layout_rows(text: str, width: int) -> list[tuple[int, int]]:
    """(start, end) character ranges of the display rows of `text` drawn with `visible`:
    wrapped at `width` cells, and a newline (its ⏎ shown) ends a row."""
    rows: list[tuple[int, int]] = []
    start, used = 0, 0
    for t, ch in enumerate(text):
        cells = cell_len(visible(ch))
        if used + cells > width and t > start:
            rows.append((start, t))
            start, used = t, 0
        used += cells
        if ch == "\n":
            rows.append((start, t + 1))
            start, used = t + 1, 0
    if start < len(text) or not rows:
        rows.append((start, len(text)))
    return rows


# -- scales: value -> colour and glyph -------------------------------------------------------


def _ramp(stops: Sequence[tuple[float, tuple[int, int, int]]], x: float) -> tuple[int, ...]:
    x = min(max(x, 0.0), 1.0)
    for (x0, c0), (x1, c1) in itertools.pairwise(stops):
        if x <= x1:
            w = (x - x0) / (x1 - x0)
            return tuple(round(a + (b - a) * w) for a, b in zip(c0, c1, strict=True))
    return stops[-1][1]


@dataclass(frozen=True)
class Scale:
    lo: float
    hi: float
    stops: tuple[tuple[float, tuple[int, int, int]], ...]
    name: str  # e.g. "−1 … +1"

    def fraction(self, value: float) -> float:
        """Where `value` sits on the scale, 0 … 1; a value that is not a number (a diverged
        model's) sits at 0."""
        x = (value - self.lo) / (self.hi - self.lo)
        return min(x, 1.0) if x > 0 else 0.0

    def bar(self, value: float) -> str:
        return BARS[min(int(self.fraction(value) * len(BARS)), len(BARS) - 1)]

    def color(self, value: float) -> Color:
        return Color.from_rgb(*_ramp(self.stops, self.fraction(value)))

    def style(self, value: float) -> Style:
        """A background from the scale, with black or white text, whichever reads better."""
        r, g, b = _ramp(self.stops, self.fraction(value))
        dark = 0.299 * r + 0.587 * g + 0.114 * b < 140
        return Style(bgcolor=Color.from_rgb(r, g, b), color=WHITE if dark else BLACK)


PROBABILITY = Scale(0.0, 1.0, HEAT, "p 0 … 1")


def activation_scale(kind: str, values: np.ndarray, cell: type[Cell]) -> Scale:
    """As the cell declares `kind`: a gate over 0…1, memory (the LSTM's c) over ±its largest
    |value|; anything else over −1…1 (tanh outputs), or ±its largest |value| beyond that."""
    if kind in cell.gates:
        return Scale(0.0, 1.0, DIVERGING, "0 … 1")
    m = float(np.abs(values).max()) if values.size else 1.0
    if kind in cell.memory or m > 1:
        m = m if m > 0 else 1.0
        return Scale(-m, m, DIVERGING, f"−{m:.2g} … +{m:.2g}")
    return Scale(-1.0, 1.0, DIVERGING, "−1 … +1")


# -- a passage as rows of characters over rows of bars ----------------------------------------


def strip(
    passage: Passage,
    values: Sequence[float | None],
    scale: Scale,
    width: int,
    rows: Sequence[tuple[int, int]] | None = None,
    cursor: int | None = None,
) -> list[Text]:
    """Two lines per display row: the characters on a background from `scale`, and under
    each one a bar of its value (blank where the value is None; ▲ under the cursor)."""
    lines: list[Text] = []
    for start, end in rows if rows is not None else layout_rows(passage.text, width):
        chars, bars = Text(no_wrap=True), Text(no_wrap=True)
        for t in range(start, end):
            label, value = visible(passage.text[t]), values[t]
            style = Style() if value is None else scale.style(value)
            if t == cursor:
                style += Style(reverse=True, bold=True)
            chars.append(label, style)
            mark = CURSOR_MARK if t == cursor else (" " if value is None else scale.bar(value))
            bars.append(mark * cell_len(label), "bold" if t == cursor else "")
        lines += [chars, bars]
    return lines


def probabilities(passage: Passage) -> list[float | None]:
    """Per character, the probability the model gave it (None for the first)."""
    return [None, *(float(p) for p in passage.target_prob)]


def to_string(lines: Sequence[Text], color: bool) -> str:
    """Plain text, or ANSI 256-colour escapes when the caller knows stdout shows colour."""
    if not color:
        return "\n".join(line.plain for line in lines)
    out = io.StringIO()
    console = Console(
        file=out, force_terminal=True, color_system="256", width=10_000, legacy_windows=False
    )
    for line in lines:
        console.print(line, soft_wrap=True)
    return out.getvalue().rstrip("\n")


# -- the command line's sections --------------------------------------------------------------


def summary(passage: Passage) -> str:
    nats = float(-np.log(passage.target_prob).mean()) if len(passage) > 1 else math.nan
    return (
        f"{len(passage):,} characters · {passage.cell} · {len(passage.layers)} layer(s) of "
        f"{passage.hidden} · {nats:.4f} nats/char ({nats / math.log(2):.3f} bits)"
    )


def render_predictions(passage: Passage, *, color: bool = False) -> str:
    """Per character: position, the character, the probability the model gave it (with a bar),
    and its top-k guesses for the character that follows."""
    k = passage.top_ids.shape[1]
    head = Text(f"{'#':>6}  char      p        top-{k} next characters")
    lines = [Text(summary(passage)), head]
    for t, p in enumerate(probabilities(passage)):
        row = Text(f"{t:>6}  ")
        label = visible(passage.text[t])
        row.append(label, Style() if p is None else PROBABILITY.style(p))
        row.append(" " * max(6 - cell_len(label), 1))
        row.append("    —    " if p is None else f"{p:6.3f} {PROBABILITY.bar(p)} ")
        for ch, q in passage.top(t):
            row.append(f" {visible(ch)} {q:.3f}")
        lines.append(row)
    return to_string(lines, color)


@dataclass(frozen=True)
class UnitRef:
    layer: int
    unit: int
    kind: str = "h"


def parse_unit(spec: str, passage: Passage) -> UnitRef:
    """`LAYER:N` or `LAYER:N:KIND` (KIND h by default, or another of the cell's declared
    activations), checked against the model, or a one-line CharrnnError."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(p.strip().isdigit() for p in parts[:2]):
        raise CharrnnError(f"bad unit {spec!r}: expected LAYER:N or LAYER:N:KIND, e.g. 0:37")
    layer, unit = int(parts[0]), int(parts[1])
    kind = parts[2].strip() if len(parts) == 3 else "h"
    passage.activation(layer, kind)  # names the layers and kinds that exist
    if unit >= passage.hidden:
        raise CharrnnError(
            f"unit {unit} does not exist (layer {layer} has units 0–{passage.hidden - 1})"
        )
    return UnitRef(layer, unit, kind)


def unit_title(score: UnitScore) -> str:
    """e.g. `layer 0 · c unit 37 · r = +0.71 with "inside quotes"`."""
    return (
        f"layer {score.layer} · {score.kind} unit {score.unit} · "
        f'r = {score.r:+.2f} with "{score.property}"'
    )


def render_unit(passage: Passage, ref: UnitRef, *, color: bool = False, width: int = 80) -> str:
    values = passage.activation(ref.layer, ref.kind)[:, ref.unit]
    scale = activation_scale(ref.kind, values, passage.cell_type)
    score = unit_scores(passage, ref.layer, ref.kind)[ref.unit]
    head = Text(f"{unit_title(score)} · scale {scale.name} (bars ▁ … █)")
    lines = [head, *strip(passage, [float(v) for v in values], scale, width)]
    return to_string(lines, color)


def render_finder(scores: Sequence[UnitScore], limit: int = FINDER_ROWS) -> str:
    rows = [f"{'rank':>4}  {'layer':>5}  kind  {'unit':>4}  {'property':<20}  {'r':>6}"]
    for rank, s in enumerate(scores[:limit], 1):
        rows.append(
            f"{rank:>4}  {s.layer:>5}  {s.kind:>4}  {s.unit:>4}  {s.property:<20}  {s.r:+6.3f}"
        )
    return "\n".join(rows)


def saturation_table(saturations: Sequence[GateSaturation]) -> str:
    """Per layer and gate: mean fractions of steps closed (< 0.1) and open (> 0.9), and how
    many units are closed or open most (over half) of the time."""
    if not saturations:
        return NO_GATES
    rows = [
        "layer  gate  mean <0.1  mean >0.9  units mostly <0.1  units mostly >0.9  of",
    ]
    for s in saturations:
        rows.append(
            f"{s.layer:>5}  {s.gate:>4}  {s.low.mean():>9.3f}  {s.high.mean():>9.3f}  "
            f"{int((s.low > 0.5).sum()):>17}  {int((s.high > 0.5).sum()):>17}  {len(s.low)}"
        )
    return "\n".join(rows)


def saturation_plot(saturations: Sequence[GateSaturation], width: int, height: int) -> list[str]:
    """One layer's scatter as `height` lines of text at most `width` wide: across, the fraction
    of steps a unit's gate is below 0.1 (left-saturated); up, the fraction above 0.9
    (right-saturated). Each unit is its gate's letter; `*` where different gates share a cell."""
    cols, rows_n = max(width - 5, 4), max(height - 2, 2)
    grid = [[" "] * cols for _ in range(rows_n)]
    for s in saturations:
        for x, y in zip(s.low, s.high, strict=True):
            c = min(int(x * cols), cols - 1)
            r = rows_n - 1 - min(int(y * rows_n), rows_n - 1)
            grid[r][c] = s.gate if grid[r][c] in (" ", s.gate) else "*"
    labels = {0: "  1 ", rows_n // 2: " .5 ", rows_n - 1: "  0 "}
    lines = [labels.get(r, "    ") + "│" + "".join(cells) for r, cells in enumerate(grid)]
    lines.append("    └" + "─" * cols)
    lines.append("     0" + "< 0.1 →".center(cols - 2) + "1")
    return lines


# -- JSON ---------------------------------------------------------------------------------------


def _num(x: float) -> float | None:
    return round(float(x), 6) if math.isfinite(x) else None


def as_json(
    passage: Passage,
    *,
    unit: UnitRef | None = None,
    finder: Sequence[UnitScore] | None = None,
    saturations: Sequence[GateSaturation] | None = None,
) -> dict:
    """Everything `charrnn inspect --json` prints, as plain JSON types."""
    out: dict = {
        "text": passage.text,
        "cell": passage.cell,
        "layers": len(passage.layers),
        "hidden": passage.hidden,
        "chars": [
            {
                "char": passage.text[t],
                "p": None if p is None else _num(p),
                "top": [[ch, _num(q)] for ch, q in passage.top(t)],
            }
            for t, p in enumerate(probabilities(passage))
        ],
    }
    if unit is not None:
        score = unit_scores(passage, unit.layer, unit.kind)[unit.unit]
        values = passage.activation(unit.layer, unit.kind)[:, unit.unit]
        out["unit"] = {
            "layer": unit.layer,
            "kind": unit.kind,
            "unit": unit.unit,
            "property": score.property,
            "r": _num(score.r),
            "values": [_num(v) for v in values],
        }
    if finder is not None:
        out["finder"] = [
            {
                "layer": s.layer,
                "kind": s.kind,
                "unit": s.unit,
                "property": s.property,
                "r": _num(s.r),
            }
            for s in finder
        ]
    if saturations is not None:
        out["gates"] = [
            {
                "layer": s.layer,
                "gate": s.gate,
                "low": [_num(v) for v in s.low],
                "high": [_num(v) for v in s.high],
            }
            for s in saturations
        ]
    return out


# -- `charrnn inspect` ---------------------------------------------------------------------------


def passage_source(
    text: str | None, text_file: str | None, ckpt: Checkpoint, model: CharModel, params: Params
) -> tuple[str, list[State]]:
    """(passage, start state): --text or --text-file, read from the state training left in
    the checkpoint (as samples start); else a stretch of the held-out part of the
    checkpoint's corpus, when it is a bundled one, read on from the text before it."""
    import corpora
    from engine.checkpoint import sampling_state
    from engine.data import read_text, split

    if text is not None and text_file is not None:
        raise CharrnnError("give --text or --text-file, not both")
    if text is not None:
        return text, sampling_state(ckpt, model)
    if text_file is not None:
        return read_passage(Path(text_file)), sampling_state(ckpt, model)
    name = ckpt.meta.get("corpus", {}).get("name")
    if name not in corpora.BUNDLED:
        raise CharrnnError(
            f"no passage to inspect: give --text or --text-file (corpus {name!r} is not bundled)"
        )
    vocab = ckpt.vocab
    ids = vocab.encode(read_text(corpora.bundled_path(name)), what=f"corpus {name!r}")
    train, held_out = split(ids, ckpt.config.val_fraction)
    return default_passage(model, params, held_out if len(held_out) > 1 else train, vocab)


def read_passage(path: Path) -> str:
    """The text of --text-file; one too long to inspect is refused unread when its size alone
    says so (a character is at most 4 bytes of UTF-8), or else once read."""
    from engine.data import read_text
    from engine.files import check_regular_file

    size = check_regular_file(path, "a text file").st_size
    if size > 4 * MAX_PASSAGE_CHARS:
        raise CharrnnError(too_long(f"{path} is {size:,} bytes, too long a passage"))
    return read_text(path)


def backprop_report(
    path: str,
    text: str | None,
    text_file: str | None,
    corpus: str | None,
    window: bool,
    others: bool,
    json_out: bool,
    width: int,
) -> str:
    """`--window` or `--through-time` (tui/window_report.py), each printed on its own."""
    from tui import window_report

    if others or (window and (text is not None or text_file is not None)):
        raise CharrnnError(
            "--window and --through-time each print on their own, and --text goes with "
            "--through-time: leave out --unit, --find-units, --gates and the other of the two"
        )
    if window:
        return window_report.window_report(path, corpus, json_out, width)
    if text is not None and text_file is not None:
        raise CharrnnError("give --text or --text-file, not both")
    if text_file is not None:
        text = read_passage(Path(text_file))
    return window_report.through_time_report(path, text, corpus, json_out)


def report(
    checkpoint_path: str,
    *,
    text: str | None = None,
    text_file: str | None = None,
    top_k: int = 5,
    unit: str | None = None,
    find: bool = False,
    gates: bool = False,
    json_out: bool = False,
    color: bool = False,
    width: int = 80,
) -> str:
    """Everything `charrnn inspect CHECKPOINT [--text T | --text-file F] [--top-k K]
    [--unit LAYER:N] [--find-units] [--gates] [--json]` prints. The per-character table is
    printed when none of --unit, --find-units, --gates is given (always in --json)."""
    from engine import checkpoint

    ckpt = checkpoint.load(checkpoint_path)
    model, params = checkpoint.load_model(ckpt)
    source, state = passage_source(text, text_file, ckpt, model, params)
    passage = forward_passage(model, params, ckpt.vocab, source, state, top_k=top_k)
    ref = parse_unit(unit, passage) if unit is not None else None
    finder = find_units(passage) if find else None
    saturations = gate_saturation(passage) if gates else None
    if gates and not saturations and not json_out:
        raise CharrnnError(
            f"--gates needs a cell with gates, such as lstm or gru ({passage.cell} has none)"
        )
    if json_out:
        data = as_json(passage, unit=ref, finder=finder, saturations=saturations)
        return json.dumps(data, ensure_ascii=False)
    sections = []
    if ref is None and finder is None and saturations is None:
        sections.append(render_predictions(passage, color=color))
    if ref is not None:
        sections.append(render_unit(passage, ref, color=color, width=width))
    if finder is not None:
        sections.append(summary(passage) + "\n" + render_finder(finder))
    if saturations is not None:
        sections.append(saturation_table(saturations))
        for layer in range(len(passage.layers)):
            mine = [s for s in saturations if s.layer == layer]
            gates_here = ", ".join(s.gate for s in mine)
            sections.append(
                f"layer {layer} · one letter per unit and gate ({gates_here}; * several)\n"
                "up: fraction of steps > 0.9 (open) · across: fraction < 0.1 (closed)\n"
                + "\n".join(saturation_plot(mine, min(width, 66), 14))
            )
    return "\n\n".join(sections)
