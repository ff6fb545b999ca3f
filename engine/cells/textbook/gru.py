"""Gated recurrent unit, written as its equations read, one time step at a time.

The textbook twin of engine/cells/gru.py: the same weights, the same results. Each gate's
weights sit side by side in Wx (D, 3H), Wh (H, 3H) and b (3H,), in the fast cell's order
r, z, n; forward splits them by name. As in cuDNN and PyTorch, the reset gate multiplies
h_prev Whn + bhn rather than h_prev itself. The protocol is in engine/cells/base.py.
"""

from __future__ import annotations

import numpy as np

from engine.cells.base import Cell, Params, State


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), and exp cannot overflow


class TextbookGRU(Cell):
    name = "textbook-gru"
    activation_names = ("h", "z", "r", "n")  # as the inspect views cycle them
    gates = ("z", "r")  # sigmoids in 0…1: the gate saturation view
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

    def forward(self, p: Params, xs: np.ndarray, state: State) -> tuple[np.ndarray, list, State]:
        if self.one_hot:  # ids (T, B): each becomes a one-hot row
            xs = np.eye(self.input_size, dtype=p["Wx"].dtype)[xs]
        Wxr, Wxz, Wxn = np.split(p["Wx"], 3, axis=1)
        Whr, Whz, Whn = np.split(p["Wh"], 3, axis=1)
        br, bz, bn = np.split(p["b"], 3)
        h = state[0]
        steps = []  # what backward needs from each step
        for x in xs:
            h_prev = h
            r = sigmoid(x @ Wxr + h_prev @ Whr + br)
            z = sigmoid(x @ Wxz + h_prev @ Whz + bz)
            hn = h_prev @ Whn + p["bhn"]
            n = np.tanh(x @ Wxn + bn + r * hn)
            h = (1 - z) * n + z * h_prev
            steps.append(dict(x=x, h_prev=h_prev, r=r, z=z, hn=hn, n=n, h=h))
        return np.stack([s["h"] for s in steps]), steps, (h,)

    def backward(
        self, p: Params, cache: list, dhs: np.ndarray, grads: Params
    ) -> tuple[np.ndarray | None, State]:
        dWx, dWh, db, dbhn = (np.zeros_like(p[k]) for k in ("Wx", "Wh", "b", "bhn"))
        dxs = [None] * len(cache)
        dhnext = np.zeros_like(cache[0]["h"])  # nothing comes back from after the window
        for t in reversed(range(len(cache))):
            s = cache[t]
            dh = dhs[t] + dhnext  # backprop into h: from the output, and from step t + 1
            dn = dh * (1 - s["z"])  # h = (1 - z) * n + z * h_prev
            dz = dh * (s["h_prev"] - s["n"])
            dnraw = dn * (1 - s["n"] ** 2)  # backprop through tanh
            dhn = dnraw * s["r"]  # n = tanh(x Wxn + bn + r * hn)
            dr = dnraw * s["hn"]
            drraw = dr * s["r"] * (1 - s["r"])  # backprop through the sigmoids
            dzraw = dz * s["z"] * (1 - s["z"])
            dxraw = np.concatenate([drraw, dzraw, dnraw], axis=1)  # blocks as in Wx
            dhraw = np.concatenate([drraw, dzraw, dhn], axis=1)  # blocks as in Wh
            dWx += s["x"].T @ dxraw
            db += dxraw.sum(axis=0)
            dWh += s["h_prev"].T @ dhraw
            dbhn += dhn.sum(axis=0)
            dxs[t] = dxraw @ p["Wx"].T
            dhnext = dhraw @ p["Wh"].T + dh * s["z"]  # on to step t - 1: via Wh, and via z
        grads["Wx"][...], grads["Wh"][...] = dWx, dWh
        grads["b"][...], grads["bhn"][...] = db, dbhn
        # dhnext is now d loss / d the state the window started from
        return (None if self.one_hot else np.stack(dxs)), (dhnext,)

    def activations(self, cache: list) -> dict[str, np.ndarray]:
        return {k: np.stack([s[k] for s in cache]) for k in self.activation_names}
