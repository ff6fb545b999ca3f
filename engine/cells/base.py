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
