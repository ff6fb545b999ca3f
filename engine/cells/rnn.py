"""The vanilla RNN of min-char-rnn: h_t = tanh(Wxh x_t + Whh h_{t-1} + bh).

Weights keep min-char-rnn's column-vector orientation (Wxh is H x D); the arrays here hold
rows (one per stream), so `Whh h` is written `h @ Whh.T`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.cells.base import Params, State


class RNNCell:
    name = "rnn"

    def __init__(self, input_size: int, hidden: int, one_hot: bool) -> None:
        self.input_size, self.hidden, self.one_hot = input_size, hidden, one_hot

    def init_params(self, rs: np.random.RandomState, scale: float, dtype: np.dtype) -> Params:
        h, d = self.hidden, self.input_size
        # min-char-rnn draws Wxh then Whh from the global RandomState; Why follows in the model.
        return {
            "Wxh": (rs.randn(h, d) * scale).astype(dtype),
            "Whh": (rs.randn(h, h) * scale).astype(dtype),
            "bh": np.zeros(h, dtype),
        }

    def zero_state(self, batch: int, dtype: np.dtype) -> State:
        return (np.zeros((batch, self.hidden), dtype),)

    def forward(self, p: Params, xs: np.ndarray, state: State) -> tuple[np.ndarray, Any, State]:
        # Input term for the whole window at once: a column lookup for one-hot ids.
        if self.one_hot:
            pre = p["Wxh"].T[xs] + p["bh"]
        else:
            pre = xs @ p["Wxh"].T + p["bh"]
        whh_t = p["Whh"].T
        hs = np.empty_like(pre)
        h = state[0]
        for t in range(len(pre)):
            pre[t] += h @ whh_t
            h = np.tanh(pre[t], out=hs[t])
        return hs, (xs, state[0], hs), (h.copy(),)

    def backward(self, p: Params, cache: Any, dhs: np.ndarray, grads: Params) -> np.ndarray | None:
        xs, h0, hs = cache
        whh = p["Whh"]
        draw = np.empty_like(hs)  # d loss / d (pre-activation), per step
        dh_next = np.zeros_like(h0)
        for t in range(len(hs) - 1, -1, -1):
            dh = dhs[t] + dh_next
            np.multiply(1 - hs[t] * hs[t], dh, out=draw[t])
            dh_next = draw[t] @ whh
        h_prev = np.concatenate([h0[None], hs[:-1]])
        flat = draw.reshape(-1, self.hidden)
        grads["Whh"] += flat.T @ h_prev.reshape(-1, self.hidden)
        grads["bh"] += flat.sum(0)
        if self.one_hot:
            np.add.at(grads["Wxh"].T, xs.reshape(-1), flat)
            return None
        grads["Wxh"] += flat.T @ xs.reshape(-1, self.input_size)
        return draw @ p["Wxh"]
