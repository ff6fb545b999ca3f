"""What every cell provides; the model stacks cells without knowing their insides."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

State = tuple[np.ndarray, ...]  # per-layer recurrent state, each (B, H): (h,) or (h, c)
Params = dict[str, np.ndarray]


class Cell(Protocol):
    name: str
    input_size: int  # vocabulary size when one_hot, else the width of the dense input
    hidden: int
    one_hot: bool

    def init_params(self, rs: np.random.RandomState, scale: float, dtype: np.dtype) -> Params: ...

    def zero_state(self, batch: int, dtype: np.dtype) -> State: ...

    def forward(self, p: Params, xs: np.ndarray, state: State) -> tuple[np.ndarray, Any, State]:
        """(hs (T, B, H), cache for backward, state after the last step)."""
        ...

    def backward(self, p: Params, cache: Any, dhs: np.ndarray, grads: Params) -> np.ndarray | None:
        """Write this layer's parameter gradients into the arrays of `grads` (their contents
        on entry are undefined: every element must be written); return d loss / d xs for dense
        input. `dhs` (T, B, H) is the caller's scratch and may be overwritten."""
        ...

    def activations(self, cache: Any) -> dict[str, np.ndarray]:
        """Forward's activations by name (h; LSTM i, f, o, g, c; GRU z, r, n), each (T, B, H)."""
        ...

    def row_step(self, p: Params) -> RowStep:
        """A one-row stepper over this layer's parameters `p`, starting from a zero state."""
        ...


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
