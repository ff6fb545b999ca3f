"""Long short-term memory, one window at a time.

    a_t = x_t Wx + h_{t-1} Wh + b            four gate pre-activations, (B, 4H)
    o, i, f = sigmoid(a_t[o, i, f])          output, input and forget gates
    g = tanh(a_t[g])                         candidate cell
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Arrays hold rows (one per stream), so weights are (inputs, 4H): `x Wx` is `x @ Wx`, and a
one-hot input's product is the row lookup `Wx[id]`. Gates are stored in the order o, i, f, g:
the three sigmoid gates are one slice, and so are the two gates (i, f) whose gradients start
from dc times their sigmoid derivative.

This is the fast version training runs (fused gates, buffers written in place). To read the
cell, start with its textbook twin, engine/cells/textbook/lstm.py: the same weights and
results, one step at a time with each gate by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.cells.base import Cell, Params, State
from engine.cells.ops import RowInput, dot_last, scatter_rows, sum_rows

OUT, IN, FORGET, CAND = range(4)  # gate blocks o, i, f, g along the last axis, each H wide


class LSTMCell(Cell):
    name = "lstm"
    activation_names = ("h", "c", "i", "f", "o", "g")
    gates = ("i", "f", "o")
    memory = ("c",)
    state_names = ("h", "c")
    # Karpathy's quote and line-length units were memory cells: the finder searches c too.
    finder_kinds = ("h", "c")
    weight_blocks = 4
    equations = (
        "i = sigmoid(x Wxi + h_prev Whi + bi)    input gate",
        "f = sigmoid(x Wxf + h_prev Whf + bf)    forget gate",
        "o = sigmoid(x Wxo + h_prev Who + bo)    output gate",
        "g = tanh(x Wxg + h_prev Whg + bg)       candidate",
        "c = f * c_prev + i * g                  memory",
        "h = o * tanh(c)                         output",
    )

    def init_params(self, rs: np.random.RandomState, scale: float, dtype: np.dtype) -> Params:
        h, d = self.hidden, self.input_size
        b = np.zeros((4, h), dtype)
        b[FORGET] = 1.0  # remember by default until learnt otherwise (Jozefowicz et al. 2015)
        return {
            "Wx": (rs.randn(d, 4 * h) * scale).astype(dtype),
            "Wh": (rs.randn(h, 4 * h) * scale).astype(dtype),
            "b": b.reshape(-1),
        }

    def forward(self, p: Params, xs: np.ndarray, state: State) -> tuple[np.ndarray, Any, State]:
        h, c = state
        # Input term and bias for the whole window in one product (a row lookup for ids).
        a = p["Wx"].take(xs, axis=0) if self.one_hot else dot_last(xs, p["Wx"])
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
        # All four gates in one exp pass: sigmoid(x) = 1 / (1 + exp(-x)) for o, i, f, and
        # tanh(x) = 2 sigmoid(2x) - 1 for g, so the pre-activations are scaled by -1 or -2.
        scale = np.array([-1, -1, -1, -2], a.dtype)[:, None]
        wh, dot, mul, exp, recip = p["Wh"], np.dot, np.multiply, np.exp, np.reciprocal
        with np.errstate(over="ignore"):  # exp(large) = inf gives a saturated gate exactly
            for t in range(steps):
                at, g = a[t], a[t, :, CAND]
                at += dot(hs[t], wh, rec).reshape(batch, 4, hid)
                mul(at, scale, at)
                exp(at, at)
                at += 1
                recip(at, at)  # o, i, f, and sigmoid(2 a_g)
                g *= 2
                g -= 1  # g = tanh(a_g)
                mul(at[:, FORGET], cs[t], cs[t + 1])  # c = f * c_prev + i * g
                mul(at[:, IN], g, ig)
                cs[t + 1] += ig
                np.tanh(cs[t + 1], tanh_cs[t])  # h = o * tanh(c)
                mul(at[:, OUT], tanh_cs[t], hs[t + 1])
        return hs[1:], (xs, a, cs, tanh_cs, hs), (hs[-1].copy(), cs[-1].copy())

    def backward(
        self, p: Params, cache: Any, dhs: np.ndarray, grads: Params
    ) -> tuple[np.ndarray | None, State]:
        xs, a, cs, tanh_cs, hs = cache
        steps, batch, hid = tanh_cs.shape
        da = np.empty_like(a)  # d loss / d gate pre-activations
        dh = np.empty_like(hs[0])
        dh_next = np.zeros_like(hs[0])
        dc = np.zeros_like(cs[0])  # d loss / d c, carried backwards through f
        ds = np.empty((batch, 3, hid), a.dtype)  # sigmoid' = s (1 - s) for o, i, f
        tmp = np.empty_like(dh)
        # A contiguous copy of Wh^T: BLAS multiplies by it ~15% faster than by the transposed
        # view, and the copy costs less than one of the window's steps.
        wh_t, dot, mul, sub = np.ascontiguousarray(p["Wh"].T), np.dot, np.multiply, np.subtract
        # One step's arrays stay in cache, so the derivatives are formed step by step.
        for t in range(steps - 1, -1, -1):
            at, dat, tc = a[t], da[t], tanh_cs[t]
            o, i, g = at[:, OUT], at[:, IN], at[:, CAND]
            np.add(dhs[t], dh_next, dh)  # dh = dy-path + dh_next
            sub(1, at[:, :CAND], ds)
            ds *= at[:, :CAND]
            mul(dh, tc, dat[:, OUT])  # d a_o = dh tanh(c) o (1 - o)
            dat[:, OUT] *= ds[:, OUT]
            mul(tc, tc, tmp)  # dc = dc_next + dh o (1 - tanh(c)^2)
            sub(1, tmp, tmp)
            tmp *= o
            tmp *= dh
            dc += tmp
            mul(ds[:, IN:], dc[:, None], dat[:, IN:CAND])  # d a_i = dc g i (1 - i)
            dat[:, IN] *= g
            dat[:, FORGET] *= cs[t]  # d a_f = dc c_prev f (1 - f)
            mul(g, g, tmp)  # d a_g = dc i (1 - g^2)
            sub(1, tmp, tmp)
            tmp *= i
            mul(tmp, dc, dat[:, CAND])
            dc *= at[:, FORGET]  # dc_next = dc f
            dot(dat.reshape(batch, 4 * hid), wh_t, dh_next)  # dh_next = d a Wh^T
        dstate = (dh_next, dc)  # after step 0: d loss / d the incoming h and c
        flat = da.reshape(-1, 4 * hid)
        np.dot(hs[:-1].reshape(-1, hid).T, flat, out=grads["Wh"])
        sum_rows(flat, out=grads["b"])
        if self.one_hot:
            scatter_rows(xs, flat, self.input_size, out=grads["Wx"])
            return None, dstate
        np.dot(xs.reshape(-1, self.input_size).T, flat, out=grads["Wx"])
        return np.dot(flat, p["Wx"].T).reshape(steps, batch, self.input_size), dstate

    def activations(self, cache: Any) -> dict[str, np.ndarray]:
        """What forward computed, by name, as (T, B, H) views of its cache (for inspection)."""
        _, a, cs, _, hs = cache
        gates = {"i": IN, "f": FORGET, "o": OUT, "g": CAND}
        return {name: a[:, :, k] for name, k in gates.items()} | {"c": cs[1:], "h": hs[1:]}

    def row_step(self, p: Params) -> LSTMRowStep:
        return LSTMRowStep(p, self.one_hot)


class LSTMRowStep:
    """The LSTM step above for one row, on buffers allocated once."""

    def __init__(self, p: Params, one_hot: bool) -> None:
        self.input = RowInput(p["Wx"], p["b"], one_hot)
        self.wh = p["Wh"]
        hid, dtype = len(self.wh), self.wh.dtype
        self.h, self.c = np.zeros(hid, dtype), np.zeros(hid, dtype)
        self._a = np.empty(4 * hid, dtype)  # gate pre-activations, then activations
        gates = self._a.reshape(4, hid)  # views, made once
        self._sig = self._a[: CAND * hid]
        self._o, self._i, self._f, self._g = gates[OUT], gates[IN], gates[FORGET], gates[CAND]
        self._ig = np.empty(hid, dtype)

    def set_state(self, state: State) -> None:
        self.h[:], self.c[:] = state[0][0], state[1][0]

    def state(self) -> State:
        return (self.h[None].copy(), self.c[None].copy())

    def step(self, x: int | np.ndarray) -> np.ndarray:
        np.dot(self.h, self.wh, self._a)
        self._a += self.input(x)
        self._sig *= 0.5  # sigmoid(a) = (tanh(a / 2) + 1) / 2: one tanh pass for all gates
        np.tanh(self._a, self._a)
        self._sig *= 0.5
        self._sig += 0.5  # o, i, f; and g = tanh(a_g)
        self.c *= self._f  # c = f * c_prev + i * g
        np.multiply(self._i, self._g, self._ig)
        self.c += self._ig
        np.tanh(self.c, self.h)  # h = o * tanh(c)
        self.h *= self._o
        return self.h
