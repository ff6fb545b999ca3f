"""The cell protocol: what every recurrent cell declares and provides.

The model stacks cells without knowing their insides. A cell is a class derived from `Cell`
that says everything about itself in a few class attributes (its declaration), and provides
four methods over a whole window of inputs at once. The rest of charrnn (the registry, the
config's choices and size estimates, the inspect views, the gradient check) reads the
declaration; nothing else lists cells.

Declaration (class attributes):

    name              the cell's name: `--cell NAME`, checkpoints, legends
    activation_names  what forward computes per step, in the order the views cycle through
                      them; "h" (the output) among them
    gates             those that are sigmoid gates, in 0…1 (the gate saturation view)
    memory            those that are unbounded memory, such as the LSTM's c (drawn on a scale
                      of their own range)
    state_names       the recurrent state arrays in the order `forward` carries them, each
                      also an activation: ("h",), or ("h", "c") for the LSTM
    finder_kinds      the activations the unit finder searches by default
    weight_blocks     gate-sized blocks in each weight matrix (rnn 1, gru 3, lstm 4), for
                      size estimates before a model is built
    equations         one line per equation, as the help and the inspect views show them

Arrays are time-major: inputs are token ids (T, B) for a one-hot first layer (then `W x` is a
column lookup), or dense vectors (T, B, D); outputs and states hold one row per stream.

Methods (see each one's docstring for its contract):

    init_params(rs, scale, dtype) -> params          the layer's weights by short name
    forward(p, xs, state) -> (hs, cache, state)      a whole window
    backward(p, cache, dhs, grads) -> (dxs, dstate)  the same window backwards
    activations(cache) -> {name: (T, B, H)}          what forward computed, by declared name
    zero_state(batch, dtype) -> state                given: zeros for each of state_names
    row_step(p) -> RowStep                           optional: a fast one-row stepper for
                                                     sampling; given: the batched forward
                                                     pass one character at a time

`backward` hands back the gradient with respect to the incoming state too (one array per
state array: dh, and dc for the LSTM). Training does not need it; it is what shows how the
gradient travels back through time, for any cell, a user's own included.

Each fast built-in cell has a textbook twin in engine/cells/textbook/: the same equations and
weights, one step at a time, written to be read. `charrnn cell new NAME --from lstm` copies
one as the start of your own cell, and `charrnn gradcheck --cell-file NAME.py` checks it
against this protocol and against numerical gradients.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import numpy as np

State = tuple[np.ndarray, ...]  # per-layer recurrent state, each (B, H): (h,) or (h, c)
Params = dict[str, np.ndarray]
REQUIRED_METHODS = ("init_params", "forward", "backward", "activations")


class Cell:
    """The base of every cell. Derive from it, declare, and write the four methods."""

    name: ClassVar[str]
    activation_names: ClassVar[tuple[str, ...]] = ("h",)
    gates: ClassVar[tuple[str, ...]] = ()
    memory: ClassVar[tuple[str, ...]] = ()
    state_names: ClassVar[tuple[str, ...]] = ("h",)
    finder_kinds: ClassVar[tuple[str, ...]] = ("h",)
    weight_blocks: ClassVar[int]
    equations: ClassVar[tuple[str, ...]]

    def __init__(self, input_size: int, hidden: int, one_hot: bool) -> None:
        self.input_size = input_size  # vocabulary size when one_hot, else the input's width
        self.hidden = hidden
        self.one_hot = one_hot

    def init_params(self, rs: np.random.RandomState, scale: float, dtype: np.dtype) -> Params:
        """This layer's weights by short name (the model prefixes `l0.` and so on), every
        array of `dtype`; weights drawn from `rs` as randn * scale, biases usually zero."""
        raise NotImplementedError

    def zero_state(self, batch: int, dtype: np.dtype) -> State:
        """The state at the start of the text: zeros, one (batch, hidden) array per state
        array."""
        return tuple(np.zeros((batch, self.hidden), dtype) for _ in self.state_names)

    def forward(self, p: Params, xs: np.ndarray, state: State) -> tuple[np.ndarray, Any, State]:
        """Run the window `xs` from `state`: (hs (T, B, H), a cache for backward, the state
        after the last step). Leaves `p`, `xs` and `state` unchanged."""
        raise NotImplementedError

    def backward(
        self, p: Params, cache: Any, dhs: np.ndarray, grads: Params
    ) -> tuple[np.ndarray | None, State]:
        """The window backwards, from `dhs` (T, B, H) = d loss / d hs (the caller's scratch:
        it may be overwritten).

        Write this layer's parameter gradients into the arrays of `grads`, which has the
        same names and shapes as `p`; their contents on entry are undefined, so every element
        must be written. Return (d loss / d xs, (T, B, D), or None for one-hot input; d loss /
        d the incoming state, one (B, H) array per state array)."""
        raise NotImplementedError

    def activations(self, cache: Any) -> dict[str, np.ndarray]:
        """What forward computed, each (T, B, H), by the names of `activation_names`."""
        raise NotImplementedError

    def row_step(self, p: Params) -> RowStep:
        """A one-row stepper over this layer's parameters `p`, starting from a zero state.
        This one runs `forward` on a window of one character; a cell may give a faster one."""
        return WindowStep(self, p)


def has_own_row_step(cell: type[Cell] | Cell) -> bool:
    """Whether the cell brings its own `row_step` (else sampling runs forward per character)."""
    cls = cell if isinstance(cell, type) else type(cell)
    return cls.row_step is not Cell.row_step


class RowStep(Protocol):
    """One layer stepped one row (B=1) at a time on buffers allocated once: for sampling,
    where a window's batched forward pass would spend more on set-up than on arithmetic.

    It reads the parameters it was made from (the one-hot input table is a copy taken then),
    so make a fresh one after the weights change."""

    h: np.ndarray  # (H,) the output of the last step, which is also (part of) the state

    def set_state(self, state: State) -> None:
        """Start from `state`, a tuple of (1, H) rows as `Cell.zero_state(1, ...)` makes."""
        ...

    def state(self) -> State:
        """A copy of the current state as (1, H) rows."""
        ...

    def step(self, x: int | np.ndarray) -> np.ndarray:
        """Advance by one input (an id for a one-hot layer, else a (D,) vector); return `h`."""
        ...


class WindowStep:
    """The RowStep of a cell without its own: each character is a window of one step of the
    cell's batched forward pass. Slower per character than a cell's own stepper, exactly
    what forward computes."""

    def __init__(self, cell: Cell, p: Params) -> None:
        self.cell, self.p = cell, p
        dtype = next(iter(p.values())).dtype
        self._state = cell.zero_state(1, dtype)
        self.h = self._state[0][0]

    def set_state(self, state: State) -> None:
        self._state = tuple(a.copy() for a in state)
        self.h = self._state[0][0]

    def state(self) -> State:
        return tuple(a.copy() for a in self._state)

    def step(self, x: int | np.ndarray) -> np.ndarray:
        xs = np.array([[x]]) if self.cell.one_hot else np.asarray(x)[None, None]
        hs, _, self._state = self.cell.forward(self.p, xs, self._state)
        self.h = hs[0, 0]
        return self.h
