"""Backpropagation through time, measured on one window of one stream.

For each time step t of a window (T steps, t = 0 … T−1) and each layer:

- the loss at t, L_t = −ln p(target_t), in nats;
- ‖∂L/∂h_t‖ with L = Σ_t L_t the window's loss: the gradient that reaches h_t from its own
  output and from every later step (min-char-rnn's `dh` at step t);
- ‖∂L_T/∂s_t‖, the gradient of the *last* step's loss alone at the state s_t that step t
  hands on (h_t, and c_t for the LSTM), from the last step back to the state the window
  started from: how far one character's loss reaches back;
- the factor per step, ‖∂L_T/∂s_{t−1}‖ / ‖∂L_T/∂s_t‖, measured;
- for the vanilla RNN, the matrix that factor comes from, Whhᵀ·diag(1 − h_t²) (min-char-rnn's
  `dhnext = Whhᵀ dhraw`), by its spectral norm: the most it can stretch a gradient;
- the horizon: how many steps back ‖∂L_T/∂s‖ stays at or above 1% of its size at the last step.

Nothing here differentiates anything itself. The window is run again (from a Replay, with the
step's own weights, start state and dropout masks) by the model's forward pass in float64,
the model's backward pass gives the gradient reaching each layer's outputs, and the state
gradients come from the cells' own `backward`, which returns d loss / d the state a window
starts from: for each s, the layer's cell is run forward from the state after step s over
steps s+1 … T−1 and backward, so any cell works, a user's included. That costs about T²/2
cell steps per layer: on request only, never while training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import packed
from engine.cells.base import Cell, Params, State
from engine.cells.ops import dot_last
from engine.cells.rnn import RNNCell
from engine.cells.textbook.rnn import TextbookRNN
from engine.config import Config
from engine.errors import CharrnnError
from engine.model import CharModel, Forward
from engine.optim import Clipping, clipping_of
from engine.vocab import Vocab
from engine.window import Replay

HORIZON_FRACTION = 0.01  # the horizon: steps back the last step's gradient stays above 1%
MAX_STEPS = 400  # longest passage measured (the cost grows as its square)
VANILLA = (RNNCell, TextbookRNN)  # cells whose factor has min-char-rnn's closed form


# -- one stream's window, replayed -----------------------------------------------------------


def analysis_model(config: Config, vocab_size: int) -> CharModel:
    """The run's model in float64 with the loss summed over the window (min-char-rnn's L)."""
    return CharModel(config.replace(dtype="float64", loss="sum"), vocab_size)


class WindowPass:
    """One stream (column `column` of a Replay) run again in float64 through the model's own
    forward and backward passes, with each layer's state gradients at every step. The
    vectors behind the through-time and chain-rule views; `flow()` sums them up."""

    def __init__(self, config: Config, vocab_size: int, replay: Replay, column: int) -> None:
        self.model = model = analysis_model(config, vocab_size)
        self.params = {k: np.array(v, dtype=np.float64) for k, v in replay.params.items()}
        self.inputs = replay.inputs[:, column : column + 1]
        self.targets = replay.targets[:, column : column + 1]
        self.start = [
            tuple(np.array(a[column : column + 1], np.float64) for a in s) for s in replay.state
        ]
        self.masks = [
            None if m is None else np.array(m[:, column : column + 1], np.float64)
            for m in replay.masks
        ]
        self.steps = len(self.inputs)
        fwd, _ = self.forward()
        self.probs = fwd.probs[:, 0].copy()  # (T, V): backward overwrites fwd.probs
        picked = self.probs[np.arange(self.steps), self.targets[:, 0]]
        self.loss = -np.log(picked)  # (T,) nats
        self.acts = [
            {k: np.array(v[:, 0]) for k, v in cell.activations(cache).items()}
            for cell, cache in zip(model.cells, fwd.cache.caches, strict=True)
        ]
        self.layer_inputs = self._layer_inputs()
        seen: list[np.ndarray] = [np.empty(0)] * len(model.cells)
        self.grads = {
            k: g.copy() for k, g in model.backward(self.params, fwd, self.targets, seen).items()
        }
        self.dhs_whole = [d[:, 0] for d in seen]  # (T, H): d L / d each layer's outputs
        self.dhs_last = [d[:, 0] for d in self._last_step_dhs()]
        self.carried = [self._state_gradients(i) for i in range(len(model.cells))]

    def forward(self) -> tuple[Forward, list[State]]:
        """The window run again in float64 from its start state with its dropout masks, on
        the weights in `self.params` as they are now (the weight check changes one)."""
        return self.model.forward(
            self.params, self.inputs, self.targets, self.start, masks=self.masks
        )

    def _layer_inputs(self) -> list[np.ndarray]:
        """What each layer's cell reads: ids (or embedding rows) for layer 0, then the layer
        below's h with its dropout mask."""
        first = self.params["E"].take(self.inputs, axis=0) if self.model.embedding else self.inputs
        below = [a["h"][:, None] for a in self.acts[:-1]]
        rest = [h if m is None else h * m for h, m in zip(below, self.masks[1:], strict=True)]
        return [first, *rest]

    def _last_step_dhs(self) -> list[np.ndarray]:
        """d L_T / d each layer's outputs: the model's backward pass from the last step's
        output gradient alone (p − onehot at step T−1, zero before)."""
        fwd, _ = self.forward()
        dlogits = np.zeros_like(fwd.probs)
        dlogits[-1] = fwd.probs[-1]
        dlogits[-1, 0, self.targets[-1, 0]] -= 1
        seen: list[np.ndarray] = [np.empty(0)] * len(self.model.cells)
        scratch = packed.empty_like(self.params)
        dtop = dot_last(dlogits, self.params["Why"])
        self.model.backward_layers(self.params, fwd.cache, dtop, scratch, seen)
        return seen

    def state_before(self, layer: int, t: int) -> State:
        """The state layer `layer` hands on from step t (t = −1: the window's start), (1, H)
        arrays: the cell's state_names are activations, so it is read from them."""
        if t < 0:
            return self.start[layer]
        names = self.model.cells[layer].state_names
        return tuple(self.acts[layer][n][t : t + 1] for n in names)

    def _state_gradients(self, layer: int) -> list[State]:
        """For s = −1 … T−1: d L / d (state after step s) through steps s+1 … T−1 only, for
        the whole window's loss (row 0) and the last step's (row 1); each a tuple of (2, H)."""
        cell: Cell = self.model.cells[layer]
        p = self.model.layer_params(self.params, layer)
        scratch = {k: np.empty_like(v) for k, v in p.items()}
        dhs = np.stack([self.dhs_whole[layer], self.dhs_last[layer]], axis=1)  # (T, 2, H)
        xs = self.layer_inputs[layer]
        out: list[State] = []
        for s in range(-1, self.steps - 1):
            start = tuple(np.repeat(a, 2, axis=0) for a in self.state_before(layer, s))
            _, cache, _ = cell.forward(p, np.repeat(xs[s + 1 :], 2, axis=1), start)
            _, dstate = cell.backward(p, cache, dhs[s + 1 :].copy(), scratch)
            out.append(tuple(np.array(d) for d in dstate))
        out.append(tuple(np.zeros((2, self.model.config.hidden)) for _ in cell.state_names))
        return out

    def handed_on(self, layer: int, t: int, row: int) -> State:
        """d L / d the state step t hands on (t = −1: the window's start), row 0 for the
        window's loss and 1 for the last step's: from later steps, plus h_t's own output."""
        g = [d[row].copy() for d in self.carried[layer][t + 1]]
        if t >= 0:
            g[0] += (self.dhs_whole if row == 0 else self.dhs_last)[layer][t]
        return tuple(g)

    def dh_next(self, layer: int, t: int) -> State:
        """What reaches step t's state from step t+1 for the window's loss: min-char-rnn's
        `dhnext` (and the LSTM's `dcnext`) as step t's backward starts."""
        return tuple(d[0].copy() for d in self.carried[layer][t + 1])

    def flow(self, stream: int, vocab: Vocab) -> Flow:
        return Flow(
            stream=stream,
            inputs=vocab.decode(self.inputs[:, 0].tolist()),
            targets=vocab.decode(self.targets[:, 0].tolist()),
            loss=self.loss,
            layers=[self._layer_flow(i) for i in range(len(self.model.cells))],
        )

    def _layer_flow(self, layer: int) -> LayerFlow:
        cell = self.model.cells[layer]
        steps = range(-1, self.steps)
        last = [self.handed_on(layer, t, 1) for t in steps]
        parts = {
            name: np.array([np.linalg.norm(g[k]) for g in last])
            for k, name in enumerate(cell.state_names)
        }
        whole = np.sqrt(sum(v**2 for v in parts.values()))
        grad_h = np.array(
            [np.linalg.norm(self.handed_on(layer, t, 0)[0]) for t in range(self.steps)]
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = whole[:-1] / whole[1:]
        return LayerFlow(
            layer=layer,
            state_names=tuple(cell.state_names),
            grad_h=grad_h,
            last=whole,
            last_parts=parts,
            factor=factor,
            analytic=self._analytic(layer) if isinstance(cell, VANILLA) else None,
            horizon=horizon(whole),
        )

    def _analytic(self, layer: int) -> np.ndarray:
        """‖Whhᵀ·diag(1 − h_t²)‖₂ at each step: dhnext = Whhᵀ dhraw = Whhᵀ (1 − h_t²) ⊙ dh."""
        whh_t = self.model.layer_params(self.params, layer)["Whh"].T
        h = self.acts[layer]["h"]
        return np.array([_spectral_norm(whh_t * (1 - h_t * h_t)) for h_t in h])


def _spectral_norm(m: np.ndarray) -> float:
    """The largest singular value; NaN for a matrix with inf or NaN in it (diverged)."""
    return float(np.linalg.norm(m, 2)) if np.isfinite(m).all() else float("nan")


def horizon(last: np.ndarray, fraction: float = HORIZON_FRACTION) -> int:
    """Steps back from the last step (last[-1]) that ‖∂L_T/∂s‖ stays at or above `fraction` of
    its size there, counting into the window's start state: len(last) − 1 = all the way."""
    size = last[-1]
    k = 0
    while k + 1 < len(last) and last[-2 - k] >= fraction * size > 0:
        k += 1
    return k


@dataclass(frozen=True)
class LayerFlow:
    layer: int
    state_names: tuple[str, ...]
    grad_h: np.ndarray  # (T,) ‖∂L/∂h_t‖, L the window's summed loss (min-char-rnn's dh)
    # (T + 1,) ‖∂L_T/∂s_t‖ for t = −1 … T−1 (index 0 is the state the window started from):
    # the last step's loss alone, at the whole state each step hands on
    last: np.ndarray
    last_parts: dict[str, np.ndarray]  # the same, per state array (h; and c for the LSTM)
    factor: np.ndarray  # (T,) at step t: ‖∂L_T/∂s_{t−1}‖ / ‖∂L_T/∂s_t‖
    analytic: np.ndarray | None  # (T,) vanilla RNN: ‖Whhᵀ·diag(1 − h_t²)‖₂; else None
    horizon: int  # steps back ‖∂L_T/∂s‖ stays ≥ 1% of its size at the last step (T: all)

    @property
    def relative(self) -> np.ndarray:
        """‖∂L_T/∂s_t‖ as a fraction of its size at the last step, for t = −1 … T−1."""
        size = self.last[-1]
        return self.last / size if size > 0 else np.zeros_like(self.last)


@dataclass(frozen=True)
class Flow:
    """Through time for one stream's window: per step, per layer."""

    stream: int
    inputs: str
    targets: str
    loss: np.ndarray  # (T,) nats at each step
    layers: list[LayerFlow]

    @property
    def steps(self) -> int:
        return len(self.loss)


def check_passage(text: str, vocab: Vocab, seq_length: int) -> np.ndarray:
    """The ids of a passage to measure, or a one-line CharrnnError: outside the vocabulary,
    too short for one window of two steps, or too long to measure."""
    ids = vocab.encode(text, what="the passage")
    if len(ids) < 3:
        raise CharrnnError(
            f"the passage has {len(ids)} character{'s' if len(ids) != 1 else ''}; through time needs at least 3 (two "
            f"inputs and their targets; the training window is {seq_length} + 1)"
        )
    if len(ids) > MAX_STEPS + 1:
        raise CharrnnError(
            f"the passage has {len(ids)} characters; through time measures at most "
            f"{MAX_STEPS + 1} (the cost grows with the square of the length)"
        )
    return ids


def passage_replay(params: Params, ids: np.ndarray, state: list[State]) -> Replay:
    """A passage as one window of one stream (inputs ids[:-1], targets ids[1:]), from `state`
    (stream 0 of it), without dropout."""
    return Replay(
        params=params,
        inputs=np.asarray(ids[:-1], np.intp)[:, None],
        targets=np.asarray(ids[1:], np.intp)[:, None],
        state=[tuple(a[:1] for a in layer) for layer in state],
        masks=[None] * len(state),
    )


def passage_clipping(model: CharModel, replay: Replay) -> Clipping:
    """What clipping would do to the passage's gradient if it were a training window (the
    run's dtype and loss reduction)."""
    params = {k: np.asarray(v, model.dtype) for k, v in replay.params.items()}
    state = [tuple(np.asarray(a, model.dtype) for a in s) for s in replay.state]
    fwd, _ = model.forward(params, replay.inputs, replay.targets, state)
    return clipping_of(model.config, model.backward(params, fwd, replay.targets))
