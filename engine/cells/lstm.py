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
from engine.cells.ops import dot_last, scatter_rows, sigmoid, sum_rows

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
        a = p["Wx"][xs] if self.one_hot else dot_last(xs, p["Wx"])
        a += p["b"]
        steps, batch, hid = len(a), a.shape[1], self.hidden
        a = a.reshape(steps, batch, 4, hid)  # becomes the gate activations in place
        # hs[0], cs[0] hold the incoming state and [t + 1] step t's, so [:-1] is "previous".
        hs = np.empty((steps + 1, batch, hid), a.dtype)
        cs = np.empty_like(hs)
        hs[0], cs[0] = h, c
        tanh_cs = np.empty((steps, batch, hid), a.dtype)
        ig = np.empty((batch, hid), a.dtype)
        rec = np.empty((batch, 4 * hid), a.dtype)  # the recurrent product of one step
        wh = p["Wh"]
        for t in range(steps):
            at = a[t]
            at += np.dot(hs[t], wh, out=rec).reshape(batch, 4, hid)
            sigmoid(at[:, :CAND], out=at[:, :CAND])  # o, i, f
            np.tanh(at[:, CAND], out=at[:, CAND])  # g
            np.multiply(at[:, FORGET], cs[t], out=cs[t + 1])  # c = f * c_prev + i * g
            np.multiply(at[:, IN], at[:, CAND], out=ig)
            cs[t + 1] += ig
            np.tanh(cs[t + 1], out=tanh_cs[t])  # h = o * tanh(c)
            np.multiply(at[:, OUT], tanh_cs[t], out=hs[t + 1])
        return hs[1:], (xs, a, cs, tanh_cs, hs), (hs[-1].copy(), cs[-1].copy())

    def backward(self, p: Params, cache: Any, dhs: np.ndarray, grads: Params) -> np.ndarray | None:
        xs, a, cs, tanh_cs, hs = cache
        steps, batch, hid = tanh_cs.shape
        o, i, f, g = a[:, :, OUT], a[:, :, IN], a[:, :, FORGET], a[:, :, CAND]
        c_prev = cs[:-1]
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
        dh_next = np.zeros_like(hs[0])
        dc_next = np.zeros_like(cs[0])
        dh = np.empty_like(hs[0])
        dc = np.empty_like(cs[0])
        wh_t = p["Wh"].T
        for t in range(steps - 1, -1, -1):
            np.add(dhs[t], dh_next, out=dh)
            np.multiply(dh, k_o[t], out=da[t, :, OUT])
            np.multiply(dh, k_c[t], out=dc)
            dc += dc_next
            np.multiply(k_ifg[t], dc[:, None], out=da[t, :, IN:])
            np.multiply(dc, f[t], out=dc_next)
            np.dot(da[t].reshape(batch, 4 * hid), wh_t, out=dh_next)
        flat = da.reshape(-1, 4 * hid)
        np.dot(hs[:-1].reshape(-1, hid).T, flat, out=grads["Wh"])
        sum_rows(flat, out=grads["b"])
        if self.one_hot:
            scatter_rows(xs, flat, self.input_size, out=grads["Wx"])
            return None
        np.dot(xs.reshape(-1, self.input_size).T, flat, out=grads["Wx"])
        return np.dot(flat, p["Wx"].T).reshape(steps, batch, self.input_size)
