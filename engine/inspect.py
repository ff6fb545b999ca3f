"""Looking inside a model: what it predicts along a passage, which units track what, how
saturated its gates are, and what one training step does to each parameter.

Everything here runs only when asked (the inspect screen, `charrnn inspect`); nothing touches
the training hot path. A passage is read once, B=1, by the model's own forward pass: the
activations are the cells' forward caches, so they are exactly what training computes.
"""

from __future__ import annotations

import copy
import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.cells.base import Cell, Params, State
from engine.cells.registry import cell_type
from engine.config import Config
from engine.errors import CharrnnError
from engine.limits import MAX_PASSAGE_CHARS
from engine.model import CharModel, Forward, softmax
from engine.optim import Clipping, clipping_of
from engine.vocab import Vocab
from engine.window import (
    Replay,
    Window,
    WindowRecord,
    describe,
    next_window,
    replay_of,
    training_masks,
)

if TYPE_CHECKING:
    from engine.trainer import StepResult, Trainer

# What each cell computes per step (in the order the views cycle through them), which of
# those are gates, and what the unit finder searches: each cell's own declaration
# (engine/cells/base.py), through Passage.cell_type.
SATURATED_LOW, SATURATED_HIGH = 0.1, 0.9  # Karpathy et al. 2015's thresholds
DEFAULT_PASSAGE_CHARS = 1000
WARMUP_CHARS = 200  # read before a default passage, so that it starts from a carried state
# From a zero state, a cell takes a few dozen characters to reach its working range, and that
# drift correlates with anything that is on (or off) at the start of the passage: the finder
# leaves out the first characters of a passage read from zero, at most a quarter of it.
SETTLE_CHARS = 50
MIN_FINDER_CHARS = 2
PREDICTION_BLOCK = 1024  # positions whose whole next-character distribution is held at once


# -- one pass over a passage ------------------------------------------------------------------


@dataclass(frozen=True)
class Passage:
    """Position t is "after reading text[t]": its activations, and its guesses for text[t+1]."""

    text: str
    ids: np.ndarray  # (N,)
    vocab: Vocab
    cell: str
    target_prob: np.ndarray  # (N - 1,) float64: p(text[t + 1] | text[: t + 1], start state)
    top_ids: np.ndarray  # (N, k) the likeliest next characters after text[t], best first
    top_probs: np.ndarray  # (N, k) float64, their probabilities
    layers: list[dict[str, np.ndarray]]  # per layer: activation name -> (N, H)
    settled_from: int = 0  # the first position the unit finder uses (see SETTLE_CHARS)

    def __len__(self) -> int:
        return len(self.text)

    @property
    def cell_type(self) -> type[Cell]:
        """The cell's class, whose declaration names its activations, gates and memory."""
        return cell_type(self.cell)

    @property
    def hidden(self) -> int:
        return self.layers[0]["h"].shape[1]

    def char_prob(self, t: int) -> float | None:
        """The probability the model gave text[t] before reading it; None for the first
        character, which nothing in the passage predicted."""
        return None if t == 0 else float(self.target_prob[t - 1])

    def top(self, t: int) -> list[tuple[str, float]]:
        return [
            (self.vocab.chars[i], float(p))
            for i, p in zip(self.top_ids[t], self.top_probs[t], strict=True)
        ]

    def activation(self, layer: int, kind: str) -> np.ndarray:
        """(N, H) values of one activation of one layer; CharrnnError naming what exists."""
        n = len(self.layers)
        if not 0 <= layer < n:
            have = "only layer 0" if n == 1 else f"layers 0–{n - 1}"
            raise CharrnnError(f"layer {layer} does not exist (the model has {have})")
        if kind not in self.layers[layer]:
            names = ", ".join(self.cell_type.activation_names)
            raise CharrnnError(f"{self.cell} layers have no {kind!r} (choose from {names})")
        return self.layers[layer][kind]


def forward_passage(
    model: CharModel,
    params: Params,
    vocab: Vocab,
    text: str,
    state: list[State] | None = None,
    top_k: int = 5,
) -> Passage:
    """Read `text` once from `state` (zero by default; only stream 0 of a batched state is
    used), without dropout, and keep every position's predictions and activations."""
    if not text:
        raise CharrnnError("the passage is empty")
    if len(text) > MAX_PASSAGE_CHARS:
        raise CharrnnError(too_long(f"the passage is {len(text):,} characters"))
    if top_k < 1:
        raise CharrnnError(f"top-k must be at least 1 (got {top_k})")
    ids = vocab.encode(text, what="the passage")
    start = model.zero_state(1) if state is None else [tuple(a[:1] for a in s) for s in state]
    top, trace, _ = model.forward_layers(params, ids[:, None], start)
    target_prob, top_ids, top_probs = _predictions(model, params, top[:, 0], ids, top_k)
    layers = [
        {name: np.ascontiguousarray(a[:, 0]) for name, a in cell.activations(cache).items()}
        for cell, cache in zip(model.cells, trace.caches, strict=True)
    ]
    return Passage(
        text=text,
        ids=ids,
        vocab=vocab,
        cell=model.config.cell,
        target_prob=target_prob,
        top_ids=top_ids,
        top_probs=top_probs,
        layers=layers,
        settled_from=0 if state is not None else min(SETTLE_CHARS, len(ids) // 4),
    )


def too_long(what: str) -> str:
    """Why a passage is not read: `what` says how long it is."""
    return (
        f"{what}; inspect reads at most {MAX_PASSAGE_CHARS:,} characters at once "
        "(each keeps every layer's activations in memory)"
    )


def _predictions(
    model: CharModel, params: Params, top: np.ndarray, ids: np.ndarray, top_k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target_prob, top_ids, top_probs) from the top layer's outputs (N, H), a block of
    positions at a time: the full (N, V) probabilities would cost 8 bytes per character per
    vocabulary entry (and as much again to sort), 6 KB a character on a 762-character corpus."""
    n, k = len(ids), min(top_k, model.vocab_size)
    target_prob = np.empty(n - 1)
    top_ids, top_probs = np.empty((n, k), np.int64), np.empty((n, k))
    for a in range(0, n, PREDICTION_BLOCK):
        b = min(a + PREDICTION_BLOCK, n)
        # float64 probabilities, so that they agree with the validation code's log-sum-exp.
        probs = softmax(model.logits(params, top[a:b]).astype(np.float64))
        top_ids[a:b] = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        top_probs[a:b] = np.take_along_axis(probs, top_ids[a:b], axis=1)
        rows = min(b, n - 1) - a  # the last position has nothing after it to predict
        target_prob[a : a + rows] = probs[np.arange(rows), ids[a + 1 : a + 1 + rows]]
    return target_prob, top_ids, top_probs


# -- properties of text, and the units that follow them -------------------------------------


def _per_char(test: Callable[[str], bool]) -> Callable[[str], np.ndarray]:
    return lambda text: np.fromiter((test(c) for c in text), dtype=np.float64, count=len(text))


def inside_quotes(text: str) -> np.ndarray:
    """1 from an opening quote up to (not including) the character after the closing one:
    a straight double quote toggles; curly and angle quotes open and close."""
    out, inside = np.zeros(len(text)), False
    for t, ch in enumerate(text):
        if ch == '"':
            inside = not inside
        elif ch in "“«":
            inside = True
        elif ch in "”»":
            inside = False
        out[t] = inside
    return out


def inside_brackets(text: str) -> np.ndarray:
    """1 while more brackets ( [ { are open than closed (an unmatched close counts as none)."""
    out, depth = np.zeros(len(text)), 0
    for t, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        out[t] = depth > 0
    return out


def chars_since_newline(text: str) -> np.ndarray:
    out, column = np.zeros(len(text)), 0
    for t, ch in enumerate(text):
        column = 0 if ch == "\n" else column + 1
        out[t] = column
    return out


def position_in_word(text: str) -> np.ndarray:
    """1 at a word's first letter, 2 at its second, ...; 0 outside words."""
    out, run = np.zeros(len(text)), 0
    for t, ch in enumerate(text):
        run = run + 1 if ch.isalpha() else 0
        out[t] = run
    return out


def word_start(text: str) -> np.ndarray:
    return (position_in_word(text) == 1).astype(np.float64)


PROPERTIES: dict[str, Callable[[str], np.ndarray]] = {
    "inside quotes": inside_quotes,
    "inside brackets": inside_brackets,
    "chars since newline": chars_since_newline,
    "word start": word_start,
    "position in word": position_in_word,
    "upper-case": _per_char(str.isupper),
    "vowel": _per_char(lambda c: c in "aeiouAEIOU"),
    "digit": _per_char(str.isdigit),
    "whitespace": _per_char(str.isspace),
    "newline": _per_char(lambda c: c == "\n"),
    "punctuation": _per_char(lambda c: unicodedata.category(c).startswith("P")),
    "sentence end": _per_char(lambda c: c in ".!?"),
}


@dataclass(frozen=True)
class UnitScore:
    layer: int
    kind: str  # "h", "c" or a gate name
    unit: int
    property: str
    r: float  # Pearson correlation of the unit's activation with the property over the passage


def pearson(values: np.ndarray, properties: np.ndarray) -> np.ndarray:
    """(H, P) correlations of each column of values (N, H) with each of properties (N, P);
    0 where either side is constant over the passage."""
    a = values.astype(np.float64)
    a -= a.mean(axis=0)
    p = properties - properties.mean(axis=0)
    spread = np.outer(np.sqrt((a * a).sum(axis=0)), np.sqrt((p * p).sum(axis=0)))
    num = a.T @ p
    return np.divide(num, spread, out=np.zeros_like(num), where=spread > 1e-12)


def _property_names(properties: Sequence[str] | None) -> list[str]:
    names = list(PROPERTIES) if properties is None else list(properties)
    unknown = [n for n in names if n not in PROPERTIES]
    if unknown or not names:
        known = ", ".join(PROPERTIES)
        raise CharrnnError(f"unknown text property {unknown[0] if unknown else ''!r} ({known})")
    return names


def _property_table(passage: Passage, names: list[str]) -> np.ndarray:
    if len(passage) < MIN_FINDER_CHARS:
        raise CharrnnError(
            f"the unit finder needs a passage of at least {MIN_FINDER_CHARS} characters"
        )
    return np.stack([PROPERTIES[n](passage.text) for n in names], axis=1)[passage.settled_from :]


def _unit_values(passage: Passage, layer: int, kind: str) -> np.ndarray:
    return passage.activation(layer, kind)[passage.settled_from :]


def _best_per_unit(layer: int, kind: str, r: np.ndarray, names: list[str]) -> list[UnitScore]:
    best = np.abs(r).argmax(axis=1)
    return [UnitScore(layer, kind, u, names[b], float(r[u, b])) for u, b in enumerate(best)]


def find_units(
    passage: Passage,
    properties: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
) -> list[UnitScore]:
    """Every unit of every layer (of the given kinds; default the cell's finder_kinds: h, and
    c for an LSTM) with the property it follows most closely, strongest |r| first. Restrict
    `properties` to rank the units by one property: `find_units(p, ["inside quotes"])[0]` is
    the best quote unit."""
    names = _property_names(properties)
    table = _property_table(passage, names)
    kinds = passage.cell_type.finder_kinds if kinds is None else kinds
    scores: list[UnitScore] = []
    for layer in range(len(passage.layers)):
        for kind in kinds:
            r = pearson(_unit_values(passage, layer, kind), table)
            scores += _best_per_unit(layer, kind, r, names)
    return sorted(scores, key=lambda s: -abs(s.r))  # stable: ties stay in layer/unit order


def correlation_table(passage: Passage, layer: int, kind: str) -> tuple[list[str], np.ndarray]:
    """(property names, (H, P) correlations) for every unit of one layer and kind."""
    names = list(PROPERTIES)
    return names, pearson(_unit_values(passage, layer, kind), _property_table(passage, names))


def unit_scores(passage: Passage, layer: int, kind: str) -> list[UnitScore]:
    """Each unit of one layer and kind with its strongest property, in unit order."""
    names, r = correlation_table(passage, layer, kind)
    return _best_per_unit(layer, kind, r, names)


# -- gate saturation --------------------------------------------------------------------------


@dataclass(frozen=True)
class GateSaturation:
    layer: int
    gate: str
    low: np.ndarray  # (H,) fraction of the passage's steps each unit's gate is below 0.1
    high: np.ndarray  # (H,) fraction of steps above 0.9


def gate_saturation(
    passage: Passage, low: float = SATURATED_LOW, high: float = SATURATED_HIGH
) -> list[GateSaturation]:
    """One entry per layer and gate the cell declares (LSTM i, f, o; GRU z, r); empty for a
    cell without gates (the plain RNN)."""
    return [
        GateSaturation(
            layer, gate, (acts[gate] < low).mean(axis=0), (acts[gate] > high).mean(axis=0)
        )
        for layer, acts in enumerate(passage.layers)
        for gate in passage.cell_type.gates
    ]


# -- a snapshot the console can inspect while training goes on --------------------------------


@dataclass(frozen=True)
class Snapshot:
    """A model's weights at one moment, detached from the trainer: the console's inspect
    screen reads only this, never the live run."""

    model: CharModel
    params: Params
    vocab: Vocab
    config: Config
    default_text: str
    iteration: int = 0
    default_state: list[State] | None = None  # after the text before the default text
    state: list[State] | None = None  # training's (stream 0), for any other text; None: zero
    next: WindowRecord | None = None  # the window the next training step reads
    taken: WindowRecord | None = None  # the window of the step just taken (after `.`)

    def passage(self, text: str | None = None, top_k: int = 5) -> Passage:
        """The default text read on from the text before it; any other text from the state
        training carries (a model trained on a running stream has rarely seen a zero state,
        and its slowest cells take hundreds of characters to settle from one)."""
        text = self.default_text if text is None else text
        state = self.default_state if text == self.default_text else self.state
        return forward_passage(self.model, self.params, self.vocab, text, state, top_k)

    @property
    def summary(self) -> str:
        c = self.config
        layers = f"{c.layers}x" if c.layers > 1 else ""
        return f"{c.cell} {layers}{c.hidden}"


def default_passage(
    model: CharModel,
    params: Params,
    ids: np.ndarray,
    vocab: Vocab,
    length: int = DEFAULT_PASSAGE_CHARS,
    warmup: int = WARMUP_CHARS,
) -> tuple[str, list[State]]:
    """`length` characters of `ids` from the first line start after `warmup` characters (or
    from there, if no line starts soon), and the state after reading the text before it."""
    start = min(warmup, max(len(ids) - length, 0))
    if "\n" in vocab:
        newline = vocab.chars.index("\n")
        newlines = np.flatnonzero(ids[start : start + length // 2] == newline)
        start += int(newlines[0]) + 1 if len(newlines) else 0
        while start < len(ids) - length and ids[start] == newline:  # not on a blank line
            start += 1
    before = ids[max(start - warmup, 0) : start]
    state = model.zero_state(1)
    if len(before):
        _, _, state = model.forward_layers(params, before[:, None], state)
    return vocab.decode(ids[start : start + length]), state


def take_snapshot(
    trainer: Trainer, length: int = DEFAULT_PASSAGE_CHARS, stats: StepStats | None = None
) -> Snapshot:
    """Copies of the weights, a model object of its own, and a passage of held-out text (the
    training text when nothing is held out) with the state that the text before it leaves;
    the window the next step reads, and given a step's `stats`, that step's window.
    Call it between two steps, in the worker."""
    ids = trainer.val_ids if trainer.has_validation else trainer.train_ids
    model = CharModel(trainer.config, len(trainer.vocab))
    params = {k: v.copy() for k, v in trainer.weights.items()}  # the weights samples use
    # A diverged model's weights are not numbers: its views say so, numpy need not warn.
    with np.errstate(invalid="ignore", over="ignore"):
        text, state = default_passage(model, params, ids, trainer.vocab, length)
        upcoming = next_window(trainer)
    if trainer.weights is trainer.params:  # one copy of the weights, not two
        upcoming = replace(upcoming, replay=replace(upcoming.replay, params=params))
    taken = None
    if stats is not None and stats.window and stats.replay and stats.clipping:
        taken = WindowRecord(stats.window, stats.replay, stats.clipping)
    return Snapshot(
        model=model,
        params=params,
        vocab=trainer.vocab,
        config=trainer.config,
        default_text=text,
        iteration=trainer.iteration,
        default_state=state,
        state=[tuple(a[:1].copy() for a in s) for s in trainer.state],
        next=upcoming,
        taken=taken,
    )


# -- one training step, observed ---------------------------------------------------------------


@dataclass(frozen=True)
class ParamStep:
    name: str
    grad_norm: float  # L2 norm of the gradient before clipping
    grad_max: float  # largest |gradient| before clipping
    clipped: bool  # clipping changed this gradient
    update_ratio: float  # |update| / |weights before|, L2 norms; inf when the weights were 0


@dataclass(frozen=True)
class StepStats:
    iteration: int  # the iteration just trained
    params: list[ParamStep]
    loss_before: float  # the window's nats/char with the weights before the update
    loss_after: float  # the same window, start state and dropout masks, after the update
    lr: float
    global_norm: float  # all gradients together, before clipping
    reset: bool  # the window started over at the beginning of the data (zero state)
    window: Window | None = None  # the window it trained on (what `w` shows after `.`)
    clipping: Clipping | None = None  # what clipping did to the window's summed gradient
    # The arrays that run the window again (through-time and chain-rule views): carried to a
    # viewer in the snapshot file, not in the stats' JSON.
    replay: Replay | None = field(default=None, repr=False, compare=False)


def _norm(a: np.ndarray) -> float:
    return float(np.linalg.norm(a.ravel().astype(np.float64)))


class _StepWatch:
    """A `StepObserver` (engine/trainer.py) that keeps what step statistics need from one
    `Trainer.step`: the window, its start state and the generator as they were (to run the
    same forward pass, dropout masks and all, after the update), the loss, copies of the
    gradients before and after clipping, and how far the update moved each weight."""

    def window(
        self, inputs: np.ndarray, targets: np.ndarray, state: list[State], rng: np.random.Generator
    ) -> None:
        self.inputs, self.targets = inputs.copy(), targets.copy()
        self.state = [tuple(a.copy() for a in s) for s in state]
        self.rng = copy.deepcopy(rng)

    def gradients(self, fwd: Forward, grads: Params) -> None:
        self.loss = fwd.nats_per_char
        self.raw = {k: g.copy() for k, g in grads.items()}

    def updating(self, params: Params, grads: Params) -> None:
        self.before = {k: p.copy() for k, p in params.items()}
        self.clipped = {k: g.copy() for k, g in grads.items()}

    def updated(self, params: Params) -> None:
        self.ratio = {k: _update_ratio(self.before[k], params[k]) for k in params}


def _update_ratio(before: np.ndarray, after: np.ndarray) -> float:
    step, size = _norm(after - before), _norm(before)
    if size == 0:
        return math.inf if step > 0 else 0.0
    return step / size


def step_statistics(trainer: Trainer) -> tuple[StepResult, StepStats]:
    """Run exactly `trainer.step()` (the iteration advances by one, evaluations and all) while
    watching it (`StepObserver`), and report what the step did to each parameter.
    Costs a copy of the weights and gradients and one more forward pass: only on request."""
    stream = copy.copy(trainer.stream)  # the cursor before the step: which window it reads
    seen = _StepWatch()
    result = trainer.step(observe=seen)
    clipping = clipping_of(trainer.config, seen.raw)
    window, replay = _taken_window(
        trainer, stream, result.iteration, seen.before, seen.state, seen.rng
    )
    after, _ = trainer.model.forward(
        trainer.params, seen.inputs, seen.targets, seen.state, seen.rng
    )
    params = [
        ParamStep(
            name=name,
            grad_norm=_norm(g),
            grad_max=float(np.abs(g).max()) if g.size else 0.0,
            clipped=not np.array_equal(g, seen.clipped[name]),
            update_ratio=seen.ratio[name],
        )
        for name, g in seen.raw.items()
    ]
    stats = StepStats(
        iteration=result.iteration,
        params=params,
        loss_before=seen.loss,
        loss_after=after.nats_per_char,
        lr=result.lr,
        global_norm=math.sqrt(sum(p.grad_norm**2 for p in params)),
        reset=result.reset,
        window=window,
        clipping=clipping,
        replay=replay,
    )
    return result, stats


def _taken_window(
    trainer: Trainer,
    stream: Any,
    iteration: int,
    params: Params,
    state: list[State],
    rng: np.random.Generator,
) -> tuple[Window, Replay]:
    """The window a step read, from its stream cursor, weights, start state and generator as
    they were before it (the generator re-draws the step's dropout masks)."""
    model = trainer.model
    window = describe(stream, trainer.vocab, iteration, model, state, taken=True)
    masks = training_masks(model, copy.deepcopy(rng), stream.seq_length, stream.batch)
    return window, replay_of(window, stream, params, state, masks)
