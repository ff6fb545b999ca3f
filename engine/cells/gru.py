"""Gated recurrent unit, one window at a time (the variant of cuDNN and PyTorch).

    gx = x_t Wx + b,  gh = h_{t-1} Wh         three blocks each: r, z, n
    r = sigmoid(gx[r] + gh[r])               reset gate
    z = sigmoid(gx[z] + gh[z])               update gate
    hn = gh[n] + bhn
    n = tanh(gx[n] + r * hn)                 candidate
    h_t = (1 - z) * n + z * h_{t-1}  =  n + z * (h_{t-1} - n)

The reset gate multiplies the recurrent product rather than h_{t-1} itself, so the three
recurrent products stay one matrix product. Weights are (inputs, 3H), as in the LSTM.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.cells.base import Params, State
from engine.cells.ops import dot_last, scatter_rows, sigmoid, sum_rows

R, Z, N = range(3)  # gate blocks along the last axis, each `hidden` wide


class GRUCell:
    name = "gru"

    def __init__(self, input_size: int, hidden: int, one_hot: bool) -> None:
        self.input_size, self.hidden, self.one_hot = input_size, hidden, one_hot

    def init_params(self, rs: np.random.RandomState, scale: float, dtype: np.dtype) -> Params:
        h, d = self.hidden, self.input_size
        return {
            "Wx": (rs.randn(d, 3 * h) * scale).astype(dtype),
            "Wh": (rs.randn(h, 3 * h) * scale).astype(dtype),
            "b": np.zeros(3 * h, dtype),
            "bhn": np.zeros(h, dtype),
        }

    def zero_state(self, batch: int, dtype: np.dtype) -> State:
        return (np.zeros((batch, self.hidden), dtype),)

    def forward(self, p: Params, xs: np.ndarray, state: State) -> tuple[np.ndarray, Any, State]:
        # Input term and bias for the whole window in one product (a row lookup for ids).
        a = p["Wx"][xs] if self.one_hot else dot_last(xs, p["Wx"])
        a += p["b"]
        steps, batch, hid = len(a), a.shape[1], self.hidden
        a = a.reshape(steps, batch, 3, hid)  # becomes r, z, n in place
        hns = np.empty((steps, batch, hid), a.dtype)
        hs = np.empty((steps + 1, batch, hid), a.dtype)  # hs[0] the incoming state
        hs[0] = state[0]
        gh = np.empty((batch, 3, hid), a.dtype)
        wh, bhn = p["Wh"], p["bhn"]
        for t in range(steps):
            at = a[t]
            np.dot(hs[t], wh, out=gh.reshape(batch, 3 * hid))
            at[:, :N] += gh[:, :N]
            sigmoid(at[:, :N], out=at[:, :N])  # r, z
            np.add(gh[:, N], bhn, out=hns[t])
            at[:, N] += at[:, R] * hns[t]
            np.tanh(at[:, N], out=at[:, N])  # n
            np.subtract(hs[t], at[:, N], out=hs[t + 1])  # h = n + z * (h_prev - n)
            hs[t + 1] *= at[:, Z]
            hs[t + 1] += at[:, N]
        return hs[1:], (xs, a, hns, hs), (hs[-1].copy(),)

    def backward(self, p: Params, cache: Any, dhs: np.ndarray, grads: Params) -> np.ndarray | None:
        xs, a, hns, hs = cache
        steps, batch, hid = hns.shape
        r, z, n = a[:, :, R], a[:, :, Z], a[:, :, N]
        h_prev = hs[:-1]
        # Local derivatives that do not depend on the incoming gradient, for the whole window:
        # d a_z = dh (h_prev - n) z(1-z);  d a_n = dh (1-z)(1-n^2);  d a_r = d a_n hn r(1-r);
        # d hn = d a_n r;  and h_prev also gets dh z directly.
        k_z = (h_prev - n) * z * (1 - z)
        k_n = (1 - z) * (1 - n * n)
        k_r = hns * r * (1 - r)
        dan = np.empty_like(hns)  # d loss / d n's pre-activation
        dah = np.empty_like(a)  # d loss / d gh + [0, 0, bhn]: the recurrent side's r, z, hn
        dh_next = np.zeros_like(hs[0])
        dh = np.empty_like(hs[0])
        direct = np.empty_like(hs[0])
        wh_t = p["Wh"].T
        for t in range(steps - 1, -1, -1):
            np.add(dhs[t], dh_next, out=dh)
            np.multiply(dh, k_z[t], out=dah[t, :, Z])
            np.multiply(dh, k_n[t], out=dan[t])
            np.multiply(dan[t], k_r[t], out=dah[t, :, R])
            np.multiply(dan[t], r[t], out=dah[t, :, N])
            np.dot(dah[t].reshape(batch, 3 * hid), wh_t, out=dh_next)
            np.multiply(dh, z[t], out=direct)
            dh_next += direct
        flat_h = dah.reshape(-1, 3 * hid)
        np.dot(h_prev.reshape(-1, hid).T, flat_h, out=grads["Wh"])
        np.sum(dah[:, :, N], axis=(0, 1), out=grads["bhn"])
        dax = dah  # the input side shares r and z; its n block is d a_n
        dax[:, :, N] = dan
        flat = dax.reshape(-1, 3 * hid)
        sum_rows(flat, out=grads["b"])
        if self.one_hot:
            scatter_rows(xs, flat, self.input_size, out=grads["Wx"])
            return None
        np.dot(xs.reshape(-1, self.input_size).T, flat, out=grads["Wx"])
        return np.dot(flat, p["Wx"].T).reshape(steps, batch, self.input_size)
