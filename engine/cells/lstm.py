"""Long short-term memory, one window at a time.

    a_t = x_t Wx + h_{t-1} Wh + b            four gate pre-activations, (B, 4H)
    o, i, f = sigmoid(a_t[o, i, f])          output, input and forget gates
    g = tanh(a_t[g])                         candidate cell
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Arrays hold rows (one per stream), so weights are (inputs, 4H): `x Wx` is `x @ Wx`, and a
one-hot input's product is the row lookup `Wx[id]`. Gates are stored in the order o, i, f, g:
the three sigmoids are then one slice in the forward pass, and the three gates that the cell
gradient feeds (i, f, g) are one slice in the backward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.cells.base import Params, State
from engine.cells.ops import sigmoid

OUT, IN, FORGET, CAND = range(4)  # gate blocks o, i, f, g along the last axis, each H wide


class LSTMCell:
    name = "lstm"

    def __init__(self, input_size: int, hidden: int, one_hot: bool) -> None:
        self.input_size, self.hidden, self.one_hot = input_size, hidden, one_hot

    def init_params(self, rs: np.random.RandomState, scale: float, dtype: np.dtype) -> Params:
        h, d = self.hidden, self.input_size
        b = np.zeros((4, h), dtype)
        b[FORGET] = 1.0  # remember by default until learnt otherwise (Jozefowicz et al. 2015)
        return {
            "Wx": (rs.randn(d, 4 * h) * scale).astype(dtype),
            "Wh": (rs.randn(h, 4 * h) * scale).astype(dtype),
            "b": b.reshape(-1),
        }

    def zero_state(self, batch: int, dtype: np.dtype) -> State:
        return (np.zeros((batch, self.hidden), dtype), np.zeros((batch, self.hidden), dtype))

    def forward(self, p: Params, xs: np.ndarray, state: State) -> tuple[np.ndarray, Any, State]:
        h, c = state
        # Input term and bias for the whole window in one product (a row lookup for ids).
        a = p["Wx"][xs] if self.one_hot else xs @ p["Wx"]
        a += p["b"]
        steps, batch, hid = len(a), a.shape[1], self.hidden
        a = a.reshape(steps, batch, 4, hid)  # becomes the gate activations in place
        cs = np.empty((steps, batch, hid), a.dtype)
        tanh_cs = np.empty_like(cs)
        hs = np.empty_like(cs)
        ig = np.empty((batch, hid), a.dtype)
        wh = p["Wh"]
        h0, c0 = h, c
        for t in range(steps):
            at = a[t]
            at += (h @ wh).reshape(batch, 4, hid)
            sigmoid(at[:, :CAND], out=at[:, :CAND])  # o, i, f
            np.tanh(at[:, CAND], out=at[:, CAND])  # g
            np.multiply(at[:, FORGET], c, out=cs[t])  # c = f * c_prev + i * g
            np.multiply(at[:, IN], at[:, CAND], out=ig)
            c = np.add(cs[t], ig, out=cs[t])
            np.tanh(c, out=tanh_cs[t])  # h = o * tanh(c)
            h = np.multiply(at[:, OUT], tanh_cs[t], out=hs[t])
        return hs, (xs, h0, c0, a, cs, tanh_cs, hs), (h.copy(), c.copy())

    def backward(self, p: Params, cache: Any, dhs: np.ndarray, grads: Params) -> np.ndarray | None:
        xs, h0, c0, a, cs, tanh_cs, hs = cache
        steps, batch, hid = hs.shape
        o, i, f, g = a[:, :, OUT], a[:, :, IN], a[:, :, FORGET], a[:, :, CAND]
        c_prev = np.concatenate([c0[None], cs[:-1]])
        # Local derivatives that do not depend on the incoming gradient, for the whole window:
        # d a_o = dh * tanh(c) o(1-o);  dc = dc_next + dh * o (1 - tanh(c)^2);
        # d a_[i, f, g] = dc * [g i(1-i), c_prev f(1-f), i (1-g^2)].
        k_o = tanh_cs * o * (1 - o)
        k_c = o * (1 - tanh_cs * tanh_cs)
        k_ifg = np.empty((steps, batch, 3, hid), a.dtype)
        np.multiply(g * i, 1 - i, out=k_ifg[:, :, 0])
        np.multiply(c_prev * f, 1 - f, out=k_ifg[:, :, 1])
        np.multiply(i, 1 - g * g, out=k_ifg[:, :, 2])
        da = np.empty_like(a)  # d loss / d gate pre-activations
        dh_next = np.zeros_like(h0)
        dc_next = np.zeros_like(c0)
        dh = np.empty_like(h0)
        dc = np.empty_like(c0)
        wh_t = p["Wh"].T
        for t in range(steps - 1, -1, -1):
            np.add(dhs[t], dh_next, out=dh)
            np.multiply(dh, k_o[t], out=da[t, :, OUT])
            np.multiply(dh, k_c[t], out=dc)
            dc += dc_next
            np.multiply(k_ifg[t], dc[:, None], out=da[t, :, IN:])
            np.multiply(dc, f[t], out=dc_next)
            np.matmul(da[t].reshape(batch, 4 * hid), wh_t, out=dh_next)
        h_prev = np.concatenate([h0[None], hs[:-1]])
        flat = da.reshape(-1, 4 * hid)
        grads["Wh"] += h_prev.reshape(-1, hid).T @ flat
        grads["b"] += flat.sum(0)
        if self.one_hot:
            np.add.at(grads["Wx"], xs.reshape(-1), flat)
            return None
        grads["Wx"] += xs.reshape(-1, self.input_size).T @ flat
        return (flat @ p["Wx"].T).reshape(steps, batch, self.input_size)
