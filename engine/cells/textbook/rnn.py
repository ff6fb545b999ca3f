"""The vanilla RNN of min-char-rnn, written as its equation reads, one time step at a time.

    h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)

The textbook twin of engine/cells/rnn.py: the same weights, the same results. Arrays hold one
row per stream, so min-char-rnn's `np.dot(Wxh, x)` is `x @ Wxh.T` here. The protocol a cell
follows (what each method gets and returns) is in engine/cells/base.py.
"""

from __future__ import annotations

import numpy as np

from engine.cells.base import Cell, Params, State


class TextbookRNN(Cell):
    name = "textbook-rnn"
    activation_names = ("h",)  # what forward computes per step, as the inspect views show it
    weight_blocks = 1  # gate-sized blocks per weight matrix (for size estimates)
    equations = ("h = tanh(Wxh x + Whh h_prev + bh)",)

    def init_params(self, rs: np.random.RandomState, scale: float, dtype: np.dtype) -> Params:
        h, d = self.hidden, self.input_size
        return {
            "Wxh": (rs.randn(h, d) * scale).astype(dtype),  # input to hidden
            "Whh": (rs.randn(h, h) * scale).astype(dtype),  # hidden to hidden
            "bh": np.zeros(h, dtype),  # hidden bias
        }

    def forward(self, p: Params, xs: np.ndarray, state: State) -> tuple[np.ndarray, list, State]:
        if self.one_hot:  # ids (T, B): each becomes a one-hot row, min-char-rnn's xs[t]
            xs = np.eye(self.input_size, dtype=p["Wxh"].dtype)[xs]
        h = state[0]
        steps = []  # what backward needs from each step
        for x in xs:
            h_prev = h
            h = np.tanh(x @ p["Wxh"].T + h_prev @ p["Whh"].T + p["bh"])
            steps.append({"x": x, "h_prev": h_prev, "h": h})
        return np.stack([s["h"] for s in steps]), steps, (h,)

    def backward(
        self, p: Params, cache: list, dhs: np.ndarray, grads: Params
    ) -> tuple[np.ndarray | None, State]:
        dWxh, dWhh, dbh = (np.zeros_like(p[k]) for k in ("Wxh", "Whh", "bh"))
        dxs = [None] * len(cache)
        dhnext = np.zeros_like(cache[0]["h"])  # nothing comes back from after the window
        for t in reversed(range(len(cache))):
            s = cache[t]
            dh = dhs[t] + dhnext  # backprop into h: from the output, and from step t + 1
            dhraw = (1 - s["h"] * s["h"]) * dh  # backprop through tanh
            dbh += dhraw.sum(axis=0)
            dWxh += dhraw.T @ s["x"]
            dWhh += dhraw.T @ s["h_prev"]
            dxs[t] = dhraw @ p["Wxh"]
            dhnext = dhraw @ p["Whh"]  # on to step t - 1
        grads["Wxh"][...], grads["Whh"][...], grads["bh"][...] = dWxh, dWhh, dbh
        # dhnext is now d loss / d the state the window started from
        return (None if self.one_hot else np.stack(dxs)), (dhnext,)

    def activations(self, cache: list) -> dict[str, np.ndarray]:
        return {"h": np.stack([s["h"] for s in cache])}
