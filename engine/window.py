"""The training window as the window view shows it, and what replaying it needs.

A step reads one window per stream: T input characters and, one place on, T targets. Where
it comes from is `BatchStream`'s rule (engine/data.py), asked here without moving the
stream: the pointer p (the same offset in every lane), whether the state restarts and why,
and how many times the pointer has wrapped. `Window` describes it in JSON-able values for
a few streams of the minibatch; `Replay` holds the arrays that run it again (the weights the
step used, the ids, the start state and the dropout masks), which engine/through_time.py
reads. Both are made on request, never on the training hot path.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.cells.base import Params, State
from engine.data import BatchStream
from engine.model import CharModel, dropout_mask
from engine.optim import Clipping, clipping_of
from engine.parallel import slice_generators, slices
from engine.vocab import Vocab

if TYPE_CHECKING:
    from engine.trainer import Trainer

SHOWN_STREAMS = 4  # streams of a minibatch that the window and through-time views show
REASONS = {
    "": "carried over from the last window",
    "fresh": "zeros: the run's first window",
    "wrapped": "zeros: p + T + 1 ≥ lane, so p went back to 0",
}


def shown_streams(batch: int, count: int = SHOWN_STREAMS) -> list[int]:
    """Stream 0 (the one samples continue) and a few more, evenly spaced to the last."""
    if batch <= count:
        return list(range(batch))
    return sorted({round(i * (batch - 1) / (count - 1)) for i in range(count)})


@dataclass(frozen=True)
class StreamWindow:
    stream: int  # which stream (lane) of the minibatch
    start: int  # where its first input sits in the training text: lane start + p
    inputs: str  # the T characters read
    targets: str  # the T characters to predict: the inputs moved on by one
    state_norm: float  # ‖state‖ it starts from, all layers together (0 after a reset)


@dataclass(frozen=True)
class Window:
    iteration: int  # the iteration that trains on it (next) or trained on it (taken)
    taken: bool  # True: the step just taken; False: the next step's
    position: int  # the pointer p: the same offset into every lane
    lane: int  # characters per lane (the whole training text when B = 1)
    corpus: int  # N: characters of training text
    batch: int
    seq_length: int
    epoch: int  # the pass through the lanes this window belongs to, counting from 1
    reset: str  # "" (carried over), "fresh" or "wrapped": see REASONS
    state_names: list[str]  # the state each layer carries: ["h"], or ["h", "c"]
    layers: int
    hidden: int
    streams: list[StreamWindow] = field(default_factory=list)

    @property
    def state_size(self) -> int:
        """Numbers of carried state per stream."""
        return self.layers * len(self.state_names) * self.hidden

    @property
    def reason(self) -> str:
        return REASONS[self.reset]

    def stream(self, b: int) -> StreamWindow:
        return next(s for s in self.streams if s.stream == b)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Window:
        streams = [StreamWindow(**s) for s in values["streams"]]
        return cls(**{**values, "streams": streams})


@dataclass(frozen=True)
class Replay:
    """One window again, for the shown streams (columns in the order of Window.streams)."""

    params: Params  # the weights its step used (before that step's update)
    inputs: np.ndarray  # (T, S) ids
    targets: np.ndarray  # (T, S)
    state: list[State]  # per layer, (S, H) arrays: the state the window starts from
    masks: list[np.ndarray | None]  # per layer: (T, S, D) dropout masks, or None


@dataclass(frozen=True)
class WindowRecord:
    window: Window
    replay: Replay
    clipping: Clipping  # what clipping does (or did) to the window's summed gradient


def training_masks(
    model: CharModel, rng: np.random.Generator, steps: int, batch: int
) -> list[np.ndarray | None]:
    """The dropout masks a training step draws from `rng` (pass a copy taken before the
    step) for a (steps, batch) window: per layer, None where there is none. The same draws
    as CharModel.forward_layers makes, per slice of streams as engine/parallel.py splits a
    minibatch."""
    config = model.config
    layers = len(model.cells)
    if config.dropout <= 0 or layers == 1:
        return [None] * layers
    parts = model.threads if batch >= model.threads > 1 else 1
    rngs = slice_generators(rng, parts) if parts > 1 else [rng]
    drawn = [
        [
            dropout_mask(
                r, (steps, rows.stop - rows.start, config.hidden), config.dropout, model.dtype
            )
            for _ in range(1, layers)
        ]
        for r, rows in zip(rngs, slices(batch, parts), strict=True)
    ]
    joined = [np.concatenate(per_layer, axis=1) for per_layer in zip(*drawn, strict=True)]
    return [None, *joined]


def describe(
    stream: BatchStream,
    vocab: Vocab,
    iteration: int,
    model: CharModel,
    state: list[State],
    *,
    taken: bool,
) -> Window:
    """The window `stream` reads next (its cursor as it is before that step), starting from
    `state` (the carried state; zeros are used when the window restarts)."""
    reason = stream.restart_reason()
    position = 0 if reason else stream.position
    ids = stream.window_ids(position)
    cell = model.cells[0]
    streams = [
        StreamWindow(
            stream=b,
            start=int(stream.starts[b]) + position,
            inputs=vocab.decode(ids[:-1, b].tolist()),
            targets=vocab.decode(ids[1:, b].tolist()),
            state_norm=0.0 if reason else _norm([a[b] for layer in state for a in layer]),
        )
        for b in shown_streams(stream.batch)
    ]
    return Window(
        iteration=iteration,
        taken=taken,
        position=position,
        lane=stream.lane,
        corpus=len(stream.data),
        batch=stream.batch,
        seq_length=stream.seq_length,
        epoch=stream.epoch + (reason == "wrapped") + 1,
        reset=reason,
        state_names=list(cell.state_names),
        layers=len(model.cells),
        hidden=model.config.hidden,
        streams=streams,
    )


def _norm(arrays: list[np.ndarray]) -> float:
    return float(np.sqrt(sum(float(np.vdot(a, a)) for a in arrays)))


def replay_of(
    window: Window,
    stream: BatchStream,
    params: Params,
    state: list[State],
    masks: list[np.ndarray | None],
) -> Replay:
    """The arrays that run `window` again: copies, for its shown streams only."""
    cols = [s.stream for s in window.streams]
    ids = stream.window_ids(window.position)
    start = [
        tuple(np.zeros_like(a[cols]) if window.reset else a[cols].copy() for a in layer)
        for layer in state
    ]
    return Replay(
        params={k: v.copy() for k, v in params.items()},
        inputs=ids[:-1, cols].copy(),
        targets=ids[1:, cols].copy(),
        state=start,
        masks=[None if m is None else m[:, cols].copy() for m in masks],
    )


def next_window(trainer: Trainer) -> WindowRecord:
    """The window the trainer's next step will read and train on, from its weights, state
    and random generator as they are now, with what clipping will do to its gradient
    (one forward and backward pass of the minibatch); nothing in the trainer moves."""
    stream, model, config = trainer.stream, trainer.model, trainer.config
    window = describe(stream, trainer.vocab, trainer.iteration, model, trainer.state, taken=False)
    masks = training_masks(model, copy.deepcopy(trainer.rng), config.seq_length, config.batch)
    ids = stream.window_ids(window.position)
    state = model.zero_state(config.batch) if window.reset else trainer.state
    rng = copy.deepcopy(trainer.rng)
    with np.errstate(all="ignore"):  # a diverged model's gradient is shown as it is
        _, grads, _ = model.loss_and_grads(trainer.params, ids[:-1], ids[1:], state, rng)
    replay = replay_of(window, stream, trainer.params, trainer.state, masks)
    return WindowRecord(window, replay, clipping_of(config, grads))
