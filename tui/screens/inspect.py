"""The inspect screen: what the model predicts along a passage, what one unit does, how
saturated the gates are, (while paused) what one training step does to each parameter, and
backpropagation through time: the training window (`w`), the gradient travelling back
through it (`b`) and the chain rule at one step (Enter), as tui/backprop_views.py draws them.

It reads only a `Snapshot` (copies of the weights): training may go on meanwhile. The host
app gives it an `on_step` callback for `.`, which asks the run for one step or says at once
why it cannot, and calls `show_step(stats, snapshot)` when the run's SnapshotReady event
for that step arrives (on the app's own thread, as every run event does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Input, Static

from engine.errors import CharrnnError
from engine.inspect import (
    Passage,
    Snapshot,
    StepStats,
    UnitScore,
    correlation_table,
    find_units,
    gate_saturation,
)
from tui.backprop_views import BackpropViews, Drawn
from tui.docs_pointers import explained
from tui.inspect_text import (
    PROBABILITY,
    Scale,
    activation_scale,
    probabilities,
    saturation_table,
    unit_title,
    visible,
)
from tui.screens.help import HelpScreen
from tui.widgets.inspect_views import PassageView, StepView, gates_text, top_k_text

VIEWS = ("predictions", "neurons", "gates", "step", "window", "through", "chain")
BACKPROP = ("window", "through", "chain")  # the views of the training window
HELP = {
    "predictions": "t type  g sample  u neurons  s gates  w window  b backprop  ? keys  Esc back",
    "neurons": "←→↑↓ move  [ ] unit  f finder  k {kinds}  p predictions  ? keys  Esc back",
    "gates": "p predictions  u neurons  w window  b through time  . step  ? keys  Esc back",
    "step": ". another step  w window  b through time  p predictions  ? keys  Esc back",
    "window": ". step: p moves  m stream  b through time  p predictions  ? keys  Esc back",
    "through": "←→ step  Enter chain rule  l layer  m stream  w window  ? keys  Esc back",
    "chain": "←→ step  [ ] unit  l layer  m stream  Esc through time  . step  ? keys",
}
PREDICTIONS_LEGEND = "colour and bar: p given to each char · red/▁ surprised … green/█ expected"
STEP_LEGEND = "gradients before clipping · update/weight = |Δw| / |w|, about 1e-3 is healthy"
GATES_LEGEND = "each gate of each unit over the passage: how often shut (< 0.1), open (> 0.9)"
# The views whose detail panel is full point to their docs on the message line; the neurons,
# window and chain-rule views point from their own detail panel.
POINTER_ON_MESSAGE_LINE = ("predictions", "gates", "step", "through")
PLOT_ROWS = 12  # the gate scatter's height until the screen has been laid out


class InspectScreen(Screen[None]):
    DEFAULT_CSS = """
    InspectScreen { layout: vertical; }
    InspectScreen #inspect-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    InspectScreen #inspect-header { height: 1; padding: 0 1; }
    InspectScreen #inspect-views { height: 1fr; }
    InspectScreen #inspect-gates { padding: 0 1; }
    InspectScreen #inspect-window, InspectScreen #inspect-through, InspectScreen #inspect-chain {
        padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    InspectScreen #inspect-detail {
        height: 7; padding: 0 1; border-top: solid $primary;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    InspectScreen #inspect-input { display: none; }
    InspectScreen #inspect-input.-open { display: block; }
    InspectScreen #inspect-message { height: 1; padding: 0 1; color: $warning; }
    InspectScreen #inspect-message.-hint { color: $text-muted; }
    InspectScreen #inspect-help { height: 1; padding: 0 1; background: $panel; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="inspect.back"),
        Binding("left", "move(-1)", "Left", show=False, id="inspect.left"),
        Binding("right", "move(1)", "Right", show=False, id="inspect.right"),
        Binding("up", "move_rows(-1)", "Up", show=False, id="inspect.up"),
        Binding("down", "move_rows(1)", "Down", show=False, id="inspect.down"),
        Binding("home", "cursor_to(0)", "Start", show=False, id="inspect.home"),
        Binding("end", "cursor_to(-1)", "End", show=False, id="inspect.end"),
        Binding("p", "view('predictions')", "Predictions", id="inspect.predictions"),
        Binding("u", "view('neurons')", "Neurons", id="inspect.neurons"),
        Binding("s", "view('gates')", "Gates", id="inspect.gates"),
        Binding("t", "type_text", "Type a passage", id="inspect.type"),
        Binding("g", "latest_sample", "Read the latest sample", id="inspect.sample"),
        Binding("left_square_bracket", "unit(-1)", "Previous unit", id="inspect.unit_down"),
        Binding("right_square_bracket", "unit(1)", "Next unit", id="inspect.unit_up"),
        Binding("f", "next_found", "Finder's next unit", id="inspect.finder"),
        Binding(
            "k",
            "next_kind",
            "Next activation",
            id="inspect.kind",
            tooltip="The next of what the cell computes: h, then its gates and memory",
        ),
        Binding("full_stop", "step", "One training step", id="inspect.step"),
        Binding(
            "w",
            "view('window')",
            "Window",
            id="inspect.window",
            tooltip="The training window: inputs over targets, the pointer p, resets",
        ),
        Binding(
            "b",
            "view('through')",
            "Through time",
            id="inspect.through",
            tooltip="Backpropagation through time: the gradient at each step",
        ),
        Binding(
            "enter",
            "chain",
            "Chain rule",
            id="inspect.chain",
            tooltip="The chain rule at the chosen step, one unit, in numbers",
        ),
        Binding(
            "l", "next_layer", "Next layer", id="inspect.layer", tooltip="Next layer (b, Enter)"
        ),
        Binding(
            "m",
            "next_stream",
            "Next stream",
            id="inspect.stream",
            tooltip="Next stream of the minibatch (w, b, Enter)",
        ),
        Binding("question_mark", "keys", "Keys", id="inspect.keys", tooltip="Every key here"),
    ]

    view = reactive("predictions")
    unit = reactive(0)  # over all layers: layer * hidden + unit
    kind = reactive("h")

    def __init__(
        self,
        snapshot: Snapshot,
        *,
        latest_sample: str | None = None,
        on_step: Callable[[], str | None] | None = None,
        text: str | None = None,
    ) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.latest_sample = latest_sample
        self.on_step = on_step
        self.text = snapshot.default_text if text is None else text
        self.passage: Passage = snapshot.passage(self.text)
        self.stats: StepStats | None = None
        self.scale: Scale = PROBABILITY  # the neurons view's, for its legend
        self._found: list[UnitScore] | None = None
        self._found_at = -1
        self._tables: dict[tuple[int, str], tuple[list[str], np.ndarray]] = {}
        self.backprop = BackpropViews(snapshot)
        self._drawn: Drawn | None = None  # the backprop view's text, for the detail panel

    def compose(self) -> ComposeResult:
        yield Static(id="inspect-title")
        yield Static(id="inspect-header")
        with ContentSwitcher(initial="inspect-passage", id="inspect-views"):
            yield PassageView(id="inspect-passage")
            with VerticalScroll(id="inspect-gates-scroll"):
                yield Static(id="inspect-gates")
            yield StepView(id="inspect-step")
            with VerticalScroll(id="inspect-window-scroll"):
                yield Static(id="inspect-window")
            yield Static(id="inspect-through")
            with VerticalScroll(id="inspect-chain-scroll"):
                yield Static(id="inspect-chain")
        yield Static(id="inspect-detail")
        yield Input(
            placeholder="a passage to read · Enter reads it · Escape cancels",
            id="inspect-input",
            compact=True,
        )
        yield Static(id="inspect-message")
        yield Static(id="inspect-help")

    @property
    def passage_view(self) -> PassageView:
        return self.query_one(PassageView)

    def on_mount(self) -> None:
        self.watch(self.passage_view, "cursor", lambda _: self._draw_detail())
        self.query_one(StepView).show(None)
        self._draw()
        self.hint(explained(self.view))
        self.passage_view.focus()

    def on_resize(self) -> None:
        if self.view == "gates":
            self._draw()

    # -- drawing ----------------------------------------------------------------------------------

    def _line(self, selector: str, text: str) -> None:
        self.query_one(selector, Static).update(Text(text, no_wrap=True, overflow="ellipsis"))

    def _draw(self) -> None:
        """Everything that depends on the view, the unit and the passage."""
        view = self.view
        self.query_one(ContentSwitcher).current = {
            "gates": "inspect-gates-scroll",
            "step": "inspect-step",
            "window": "inspect-window-scroll",
            "through": "inspect-through",
            "chain": "inspect-chain-scroll",
        }.get(view, "inspect-passage")
        title = f"inspect · iter {self.snapshot.iteration:,} · {self.snapshot.summary} · "
        if view in BACKPROP:
            drawn = self._draw_backprop(view)
            self._line("#inspect-title", title + drawn.title)
            self._line("#inspect-header", drawn.header)
            self._line("#inspect-help", HELP[view])
            self._draw_detail()
            return
        if view == "neurons":
            header = self._draw_neurons()
        elif view == "predictions":
            self.passage_view.show(self.passage, probabilities(self.passage), PROBABILITY)
            header = PREDICTIONS_LEGEND
        elif view == "gates":
            self._draw_gates()
            header = GATES_LEGEND
        else:
            header = STEP_LEGEND
        self._line("#inspect-title", title + self._describe(view))
        self._line("#inspect-header", header)
        self._line("#inspect-help", self._help(view))
        self._draw_detail()

    def _help(self, view: str) -> str:
        """The view's keys, with the activations `k` cycles through as the cell declares
        them (h/c/i/f/o/g for the LSTM, h/f/n for a minimal gated unit)."""
        return HELP[view].format(kinds="/".join(self.passage.cell_type.activation_names))

    def _describe(self, view: str) -> str:
        if view == "predictions" and len(self.passage) > 1:
            nats = -np.log(self.passage.target_prob).mean()
            return f"predictions · {len(self.passage):,} chars · {nats:.3f} nats/char"
        return {"neurons": "neurons", "gates": "gate saturation", "step": "one training step"}.get(
            view, view
        )

    def _draw_neurons(self) -> str:
        layer, unit = self._layer_unit()
        values = self.passage.activation(layer, self.kind)[:, unit]
        self.scale = activation_scale(self.kind, values, self.passage.cell_type)
        self.passage_view.show(self.passage, [float(v) for v in values], self.scale)
        return unit_title(self._score(layer, unit))

    def _draw_backprop(self, view: str) -> Drawn:
        width = max(self.size.width - 2, 40)
        if view == "window":
            drawn = self.backprop.window_view(width)
        elif view == "through":
            drawn = self.backprop.through_view(width)
        else:
            drawn = self.backprop.chain_view()
        self._drawn = drawn
        joiner = Text("\n", no_wrap=True, overflow="ellipsis")
        body = joiner.join(drawn.body) if drawn.body else Text(drawn.header)
        self.query_one(f"#inspect-{view}", Static).update(body)
        return drawn

    def _draw_gates(self) -> None:
        height = self.query_one("#inspect-views").size.height
        rows = height - 3 if height > 8 else PLOT_ROWS
        text = gates_text(
            gate_saturation(self.passage),
            len(self.passage.layers),
            max(self.size.width - 4, 40),
            rows,
        )
        self.query_one("#inspect-gates", Static).update(text)

    def _draw_detail(self) -> None:
        detail = self.query_one("#inspect-detail", Static)
        t = self.passage_view.cursor
        if self.view == "predictions":
            detail.update(top_k_text(self.passage, t, max(self.size.width - 2, 30)))
        elif self.view == "neurons":
            detail.update(self._unit_detail(t))
        elif self.view == "gates":
            detail.update(saturation_table(gate_saturation(self.passage)))
        elif self.view in BACKPROP and self._drawn is not None:
            detail.update(Text("\n".join(self._drawn.detail)))
        else:
            detail.update("")

    def _layer_unit(self) -> tuple[int, int]:
        return divmod(self.unit, self.passage.hidden)

    def _table(self, layer: int, kind: str) -> tuple[list[str], np.ndarray]:
        key = (layer, kind)
        if key not in self._tables:
            self._tables[key] = correlation_table(self.passage, layer, kind)
        return self._tables[key]

    def _score(self, layer: int, unit: int) -> UnitScore:
        names, r = self._table(layer, self.kind)
        best = int(np.abs(r[unit]).argmax())
        return UnitScore(layer, self.kind, unit, names[best], float(r[unit, best]))

    def _unit_detail(self, t: int) -> Text:
        layer, unit = self._layer_unit()
        value = float(self.passage.activation(layer, self.kind)[t, unit])
        names, r = self._table(layer, self.kind)
        order = np.argsort(-np.abs(r[unit]), kind="stable")[:4]
        strongest = " · ".join(f"{names[i]} {r[unit, i]:+.2f}" for i in order)
        kinds = "/".join(self.passage.cell_type.activation_names)
        return Text(
            f"#{t} {visible(self.passage.text[t])} · {self.kind} = {value:+.3f}\n"
            f"colour and bar: blue/▁ low … red/█ high · scale {self.scale.name}\n"
            f"correlations: {strongest}\n"
            f"layer {layer} (of {len(self.passage.layers)}) · unit {unit} "
            f"(of {self.passage.hidden}) · k switches {kinds}\n"
            f"{explained('neurons')}"  # the message line is the unit finder's here
        )

    def say(self, text: str) -> None:
        """One line on the screen's message line (the console's own is hidden under it)."""
        self.query_one("#inspect-message").remove_class("-hint")
        self._line("#inspect-message", text)

    def hint(self, text: str) -> None:
        """A quiet line where messages go: where the view is explained, until a message."""
        self._line("#inspect-message", text)
        self.query_one("#inspect-message").add_class("-hint")

    def validate_view(self, view: str) -> str:
        return view if view in VIEWS else self.view

    def watch_view(self, view: str) -> None:
        if self.is_mounted:
            if view in POINTER_ON_MESSAGE_LINE:
                self.hint(explained(view))
            else:
                self.say("")
            self._draw()

    def watch_unit(self) -> None:
        if self.is_mounted and self.view == "neurons":
            self._draw()

    def watch_kind(self) -> None:
        if self.is_mounted and self.view == "neurons":
            self._draw()

    # -- the passage --------------------------------------------------------------------------------

    def read(self, text: str) -> bool:
        """Read `text` instead; False (and a one-line message) if the model cannot."""
        try:
            passage = self.snapshot.passage(text)
        except CharrnnError as exc:
            self.say(str(exc))
            return False
        self.text, self.passage = text, passage
        self._tables.clear()
        self._found, self._found_at = None, -1
        self.passage_view.cursor = 0
        if self.view in ("gates", "step", *BACKPROP):
            self.view = "predictions"
        self._draw()
        return True

    def set_latest_sample(self, text: str) -> None:
        """The host hands over each new sample; `g` reads the latest."""
        self.latest_sample = text

    # -- actions ------------------------------------------------------------------------------------

    def action_back(self) -> None:
        box = self.query_one(Input)
        if box.has_class("-open"):  # Escape first closes the text box
            box.remove_class("-open")
            self.passage_view.focus()
            return
        if self.view == "chain":  # back to the steps it was opened from
            self.view = "through"
            return
        self.dismiss(None)

    def action_move(self, delta: int) -> None:
        if self.view in ("through", "chain"):
            self.backprop.move(delta)
            self._draw()
        else:
            self.passage_view.cursor += delta

    def action_move_rows(self, delta: int) -> None:
        if self.view not in BACKPROP:
            self.passage_view.move_rows(delta)

    def action_cursor_to(self, where: int) -> None:
        if self.view in ("through", "chain"):
            self.backprop.to(where)
            self._draw()
        else:
            self.passage_view.cursor = where if where >= 0 else len(self.passage) - 1

    def action_view(self, view: str) -> None:
        if view == "neurons" and self._found is None:
            self.action_next_found()  # start on the finder's most interesting unit
        else:
            self.view = view

    def action_type_text(self) -> None:
        box = self.query_one(Input)
        box.add_class("-open")
        box.value = ""
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self.say("type some text for the model to read")
        elif self.read(event.value):
            event.input.remove_class("-open")
            self.passage_view.focus()

    def action_latest_sample(self) -> None:
        if self.latest_sample:
            self.read(self.latest_sample)
        else:
            self.say("no sample yet to read")

    def action_unit(self, delta: int) -> None:
        if self.view == "chain":
            self.backprop.move_unit(delta)
            self._draw()
            return
        if self.view != "neurons":
            self.action_view("neurons")
            return
        total = self.passage.hidden * len(self.passage.layers)
        self.unit = (self.unit + delta) % total

    def action_next_found(self) -> None:
        if len(self.passage) < 2:
            self.say("the unit finder needs a passage of at least 2 characters")
            return
        if self._found is None:
            self._found = find_units(self.passage)
        self._found_at = (self._found_at + 1) % len(self._found)
        score = self._found[self._found_at]
        self.kind = score.kind
        self.unit = score.layer * self.passage.hidden + score.unit
        self.view = "neurons"
        self.say(f"unit finder: rank {self._found_at + 1} of {len(self._found)} (f: next)")

    def action_next_kind(self) -> None:
        kinds = self.passage.cell_type.activation_names
        self.kind = kinds[(kinds.index(self.kind) + 1) % len(kinds)]
        self.action_view("neurons")

    def action_chain(self) -> None:
        if self.view in ("through", "chain"):
            self.view = "chain"
        else:
            self.say("Enter opens the chain rule at a step of the through-time view (b)")

    def action_next_layer(self) -> None:
        if self.view in ("through", "chain"):
            self.backprop.next_layer()
            self._draw()
        else:
            self.say("l changes the layer of the through-time view (b)")

    def action_next_stream(self) -> None:
        if self.view in BACKPROP:
            self.backprop.next_stream()
            self._draw()
        else:
            self.say("m changes the stream of the window (w) and through-time (b) views")

    def action_keys(self) -> None:
        shown = [b for b in self.BINDINGS if isinstance(b, Binding) and b.show]
        self.app.push_screen(HelpScreen(shown, docs=explained(self.view)))

    def action_step(self) -> None:
        if self.on_step is None:
            self.say("one step at a time works in the training console, while paused")
            return
        self.say("taking one training step …")
        refusal = self.on_step()  # None: asked; else why the run cannot step now
        if refusal:
            self.say(refusal)

    def show_step(self, stats: StepStats, snapshot: Snapshot | None = None) -> None:
        """Draw one step's statistics; given the new weights' snapshot, re-read the passage."""
        self.stats = stats
        self.query_one(StepView).show(stats)
        view = self.view if self.view in BACKPROP else "step"  # w, b, Enter: watch it move
        if snapshot is not None:
            self.snapshot = snapshot
            self.backprop.set_snapshot(snapshot)
            cursor = self.passage_view.cursor
            self.read(self.text)
            self.passage_view.cursor = cursor
        self.view = view
        self._draw()
        self.say(
            f"iteration {stats.iteration:,} trained: its window's loss went "
            f"{stats.loss_before:.4f} → {stats.loss_after:.4f} nats/char"
        )
