"""Gated recurrent unit, one window at a time (the variant of cuDNN and PyTorch).

    gx = x_t Wx + b,  gh = h_{t-1} Wh         three blocks each: r, z, n
    r = sigmoid(gx[r] + gh[r])               reset gate
    z = sigmoid(gx[z] + gh[z])               update gate
    hn = gh[n] + bhn
    n = tanh(gx[n] + r * hn)                 candidate
    h_t = (1 - z) * n + z * h_{t-1}  =  n + z * (h_{t-1} - n)

The reset gate multiplies the recurrent product rather than h_{t-1} itself, so the three
recurrent products stay one matrix product. Weights are (inputs, 3H), as in the LSTM.

This is the fast version training runs (fused gates, buffers written in place). To read the
cell, start with its textbook twin, engine/cells/textbook/gru.py: the same weights and
results, one step at a time with each gate by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.cells.base import Cell, Params, State
from engine.cells.ops import RowInput, dot_last, scatter_rows, sigmoid, sigmoid_by_tanh, sum_rows

R, Z, N = range(3)  # gate blocks along the last axis, each `hidden` wide


class GRUCell(Cell):
    name = "gru"
    activation_names = ("h", "z", "r", "n")
    gates = ("z", "r")
    weight_blocks = 3
    equations = (
        "r = sigmoid(x Wxr + h_prev Whr + br)            reset gate",
        "z = sigmoid(x Wxz + h_prev Whz + bz)            update gate",
        "n = tanh(x Wxn + bn + r * (h_prev Whn + bhn))   candidate",
        "h = (1 - z) * n + z * h_prev                    output",
    )

    def init_params(self, rs: np.random.RandomState, scale: float, dtype: np.dtype) -> Params:
        h, d = self.hidden, self.input_size
        return {
            "Wx": (rs.randn(d, 3 * h) * scale).astype(dtype),
            "Wh": (rs.randn(h, 3 * h) * scale).astype(dtype),
            "b": np.zeros(3 * h, dtype),
            "bhn": np.zeros(h, dtype),
        }

    def forward(self, p: Params, xs: np.ndarray, state: State) -> tuple[np.ndarray, Any, State]:
        # Input term and bias for the whole window in one product (a row lookup for ids).
        a = p["Wx"].take(xs, axis=0) if self.one_hot else dot_last(xs, p["Wx"])
        a += p["b"]
        steps, batch, hid = len(a), a.shape[1], self.hidden
        a = a.reshape(steps, batch, 3, hid)  # becomes r, z, n in place
        hns = np.empty((steps, batch, hid), a.dtype)
        hs = np.empty((steps + 1, batch, hid), a.dtype)  # hs[0] the incoming state
        hs[0] = state[0]
        gh = np.empty((batch, 3, hid), a.dtype)
        rh = np.empty((batch, hid), a.dtype)
        wh, bhn, mul = p["Wh"], p["bhn"], np.multiply
        with np.errstate(over="ignore"):  # in sigmoid's exp: a saturated gate, exactly
            for t in range(steps):
                at, h = a[t], hs[t + 1]
                np.dot(hs[t], wh, gh.reshape(batch, 3 * hid))
                at[:, :N] += gh[:, :N]
                sigmoid(at[:, :N], out=at[:, :N])  # r, z
                np.add(gh[:, N], bhn, hns[t])  # hn = Whn h_prev + bhn
                mul(at[:, R], hns[t], rh)
                at[:, N] += rh
                np.tanh(at[:, N], at[:, N])  # n = tanh(a_n + r hn)
                np.subtract(hs[t], at[:, N], h)  # h = n + z (h_prev - n)
                h *= at[:, Z]
                h += at[:, N]
        return hs[1:], (xs, a, hns, hs), (hs[-1].copy(),)

    def backward(
        self, p: Params, cache: Any, dhs: np.ndarray, grads: Params
    ) -> tuple[np.ndarray | None, State]:
        xs, a, hns, hs = cache
        steps, batch, hid = hns.shape
        dan = np.empty_like(hns)  # d loss / d n's pre-activation
        dah = np.empty_like(a)  # d loss / d gh + [0, 0, bhn]: the recurrent side's r, z, hn
        dh = np.empty_like(hs[0])
        dh_next = np.zeros_like(hs[0])
        one_minus_z = np.empty_like(dh)
        tmp = np.empty_like(dh)
        # A contiguous copy of Wh^T: BLAS multiplies by it ~15% faster than by the transposed
        # view, and the copy costs less than one of the window's steps.
        wh_t, dot, mul, sub = np.ascontiguousarray(p["Wh"].T), np.dot, np.multiply, np.subtract
        # One step's arrays stay in cache, so the derivatives are formed step by step.
        for t in range(steps - 1, -1, -1):
            at, dat = a[t], dah[t]
            r, z, n = at[:, R], at[:, Z], at[:, N]
            np.add(dhs[t], dh_next, dh)  # dh = dy-path + dh_next
            sub(1, z, one_minus_z)
            sub(hs[t], n, tmp)  # d a_z = dh (h_prev - n) z (1 - z)
            tmp *= dh
            tmp *= z
            mul(tmp, one_minus_z, dat[:, Z])
            mul(n, n, tmp)  # d a_n = dh (1 - z) (1 - n^2)
            sub(1, tmp, tmp)
            tmp *= dh
            mul(tmp, one_minus_z, dan[t])
            mul(dan[t], r, dat[:, N])  # d hn = d a_n r
            sub(1, r, tmp)  # d a_r = d a_n hn r (1 - r)
            tmp *= dat[:, N]
            mul(tmp, hns[t], dat[:, R])
            dot(dat.reshape(batch, 3 * hid), wh_t, dh_next)  # dh_next = d gh Wh^T + dh z
            mul(dh, z, tmp)
            dh_next += tmp
        dstate = (dh_next,)  # after step 0: d loss / d the incoming h
        h_prev = hs[:-1]
        flat_h = dah.reshape(-1, 3 * hid)
        np.dot(h_prev.reshape(-1, hid).T, flat_h, out=grads["Wh"])
        np.sum(dah[:, :, N], axis=(0, 1), out=grads["bhn"])
        dax = dah  # the input side shares r and z; its n block is d a_n
        dax[:, :, N] = dan
        flat = dax.reshape(-1, 3 * hid)
        sum_rows(flat, out=grads["b"])
        if self.one_hot:
            scatter_rows(xs, flat, self.input_size, out=grads["Wx"])
            return None, dstate
        np.dot(xs.reshape(-1, self.input_size).T, flat, out=grads["Wx"])
        return np.dot(flat, p["Wx"].T).reshape(steps, batch, self.input_size), dstate

    def activations(self, cache: Any) -> dict[str, np.ndarray]:
        """What forward computed, by name, as (T, B, H) views of its cache (for inspection)."""
        _, a, _, hs = cache
        return {"z": a[:, :, Z], "r": a[:, :, R], "n": a[:, :, N], "h": hs[1:]}

    def row_step(self, p: Params) -> GRURowStep:
        return GRURowStep(p, self.one_hot)


class GRURowStep:
    """The GRU step above for one row, on buffers allocated once."""

    def __init__(self, p: Params, one_hot: bool) -> None:
        self.input = RowInput(p["Wx"], p["b"], one_hot)
        self.wh, self.bhn = p["Wh"], p["bhn"]
        hid, dtype = len(self.wh), self.wh.dtype
        self.h = np.zeros(hid, dtype)
        self._gh = np.empty(3 * hid, dtype)  # the recurrent product
        self._gh_rz, self._hn = self._gh[: N * hid], self._gh[N * hid :]
        self._rz = np.empty(2 * hid, dtype)
        self._r, self._z = self._rz[:hid], self._rz[hid:]
        self._n = np.empty(hid, dtype)

    def set_state(self, state: State) -> None:
        self.h[:] = state[0][0]

    def state(self) -> State:
        return (self.h[None].copy(),)

    def step(self, x: int | np.ndarray) -> np.ndarray:
        split = len(self._rz)
        np.dot(self.h, self.wh, self._gh)
        a = self.input(x)
        np.add(a[:split], self._gh_rz, self._rz)
        sigmoid_by_tanh(self._rz)  # r, z
        self._hn += self.bhn  # hn = Whn h_prev + bhn
        self._hn *= self._r
        np.add(a[split:], self._hn, self._n)
        np.tanh(self._n, self._n)  # n = tanh(a_n + r hn)
        self.h -= self._n  # h = n + z (h_prev - n)
        self.h *= self._z
        self.h += self._n
        return self.h
