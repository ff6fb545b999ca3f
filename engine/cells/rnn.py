"""The vanilla RNN of min-char-rnn: h_t = tanh(Wxh x_t + Whh h_{t-1} + bh).

Weights keep min-char-rnn's column-vector orientation (Wxh is H x D); the arrays here hold
rows (one per stream), so `Whh h` is written `h @ Whh.T`.

This is the fast version training runs (the whole window's input term at once, buffers
written in place). To read the cell, start with its textbook twin,
engine/cells/textbook/rnn.py: the same weights and results, one step at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.cells.base import Cell, Params, State
from engine.cells.ops import RowInput, dot_last, one_hot, sum_rows


class RNNCell(Cell):
    name = "rnn"
    activation_names = ("h",)
    weight_blocks = 1
    equations = ("h = tanh(Wxh x + Whh h_prev + bh)",)

    def init_params(self, rs: np.random.RandomState, scale: float, dtype: np.dtype) -> Params:
        h, d = self.hidden, self.input_size
        # min-char-rnn draws Wxh then Whh from the global RandomState; Why follows in the model.
        return {
            "Wxh": (rs.randn(h, d) * scale).astype(dtype),
            "Whh": (rs.randn(h, h) * scale).astype(dtype),
            "bh": np.zeros(h, dtype),
        }

    def forward(self, p: Params, xs: np.ndarray, state: State) -> tuple[np.ndarray, Any, State]:
        # Input term for the whole window at once: a column lookup for one-hot ids.
        if self.one_hot:
            pre = p["Wxh"].T.take(xs, axis=0)  # take: 4x faster than [xs] on this view
        else:
            pre = dot_last(xs, p["Wxh"].T)
        pre += p["bh"]
        whh_t = p["Whh"].T
        # hs[0] is the incoming state, hs[t + 1] the output of step t: h_prev is then a view.
        hs = np.empty((len(pre) + 1, *pre.shape[1:]), pre.dtype)
        hs[0] = state[0]
        # At B=1 a step is latency-bound: np.dot (less dispatch than @), positional out=,
        # and views from zip rather than indexing keep the loop at three cheap calls.
        dot, tanh = np.dot, np.tanh
        for h_prev, h, x_term in zip(hs[:-1], hs[1:], pre, strict=True):
            dot(h_prev, whh_t, h)  # h = tanh(Whh h_prev + Wxh x + bh)
            h += x_term
            tanh(h, h)
        return hs[1:], (xs, hs), (hs[-1].copy(),)

    def backward(
        self, p: Params, cache: Any, dhs: np.ndarray, grads: Params
    ) -> tuple[np.ndarray | None, State]:
        xs, hs = cache
        whh = p["Whh"]
        draw = np.multiply(hs[1:], hs[1:])  # becomes d loss / d (pre-activation), per step
        np.subtract(1, draw, out=draw)  # tanh' = 1 - h^2, for the whole window at once
        dh_next = np.zeros_like(hs[0])
        dot = np.dot
        for dh, d_raw in zip(dhs[::-1], draw[::-1], strict=True):
            dh += dh_next  # dh = dy-path + dhnext
            d_raw *= dh  # dhraw = (1 - h^2) * dh
            dot(d_raw, whh, dh_next)  # dhnext = Whh^T dhraw
        dstate = (dh_next,)  # after step 0: d loss / d the incoming h
        flat = draw.reshape(-1, self.hidden)
        np.dot(flat.T, hs[:-1].reshape(-1, self.hidden), out=grads["Whh"])
        sum_rows(flat, out=grads["bh"])
        if self.one_hot:
            np.dot(flat.T, one_hot(xs, self.input_size, flat.dtype), out=grads["Wxh"])
            return None, dstate
        np.dot(flat.T, xs.reshape(-1, self.input_size), out=grads["Wxh"])
        return dot_last(draw, p["Wxh"]), dstate

    def activations(self, cache: Any) -> dict[str, np.ndarray]:
        """What forward computed, by name, as (T, B, H) views of its cache (for inspection)."""
        _, hs = cache
        return {"h": hs[1:]}

    def row_step(self, p: Params) -> RNNRowStep:
        return RNNRowStep(p, self.one_hot)


class RNNRowStep:
    """h = tanh(Whh h + Wxh x + bh) for one row, on buffers allocated once."""

    def __init__(self, p: Params, one_hot: bool) -> None:
        self.input = RowInput(p["Wxh"].T, p["bh"], one_hot)
        self.whh = p["Whh"]
        self.h = np.zeros(len(self.whh), self.whh.dtype)
        self._pre = np.empty_like(self.h)

    def set_state(self, state: State) -> None:
        self.h[:] = state[0][0]

    def state(self) -> State:
        return (self.h[None].copy(),)

    def step(self, x: int | np.ndarray) -> np.ndarray:
        np.dot(self.whh, self.h, self._pre)
        self._pre += self.input(x)
        return np.tanh(self._pre, self.h)
