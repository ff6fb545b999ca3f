"""Long short-term memory, written as its equations read, one time step at a time.

The textbook twin of engine/cells/lstm.py: the same weights, the same results. Each gate's
weights sit side by side in Wx (D, 4H), Wh (H, 4H) and b (4H,), in the fast cell's order
o, i, f, g; forward splits them by name. The protocol is in engine/cells/base.py.
"""

from __future__ import annotations

import numpy as np

from engine.cells.base import Cell, Params, State


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), and exp cannot overflow


class TextbookLSTM(Cell):
    name = "textbook-lstm"
    activation_names = ("h", "c", "i", "f", "o", "g")  # as the inspect views cycle them
    gates = ("i", "f", "o")  # sigmoids in 0…1: the gate saturation view
    memory = ("c",)  # unbounded: drawn on a scale of its own range
    state_names = ("h", "c")  # what forward carries from one window to the next
    finder_kinds = ("h", "c")  # what the unit finder searches
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
        b = np.zeros(4 * h, dtype)
        b[2 * h : 3 * h] = 1.0  # f: remember by default until learnt otherwise
        return {
            "Wx": (rs.randn(d, 4 * h) * scale).astype(dtype),
            "Wh": (rs.randn(h, 4 * h) * scale).astype(dtype),
            "b": b,
        }

    def forward(self, p: Params, xs: np.ndarray, state: State) -> tuple[np.ndarray, list, State]:
        if self.one_hot:  # ids (T, B): each becomes a one-hot row
            xs = np.eye(self.input_size, dtype=p["Wx"].dtype)[xs]
        Wxo, Wxi, Wxf, Wxg = np.split(p["Wx"], 4, axis=1)
        Who, Whi, Whf, Whg = np.split(p["Wh"], 4, axis=1)
        bo, bi, bf, bg = np.split(p["b"], 4)
        h, c = state
        steps = []  # what backward needs from each step
        for x in xs:
            h_prev, c_prev = h, c
            i = sigmoid(x @ Wxi + h_prev @ Whi + bi)
            f = sigmoid(x @ Wxf + h_prev @ Whf + bf)
            o = sigmoid(x @ Wxo + h_prev @ Who + bo)
            g = np.tanh(x @ Wxg + h_prev @ Whg + bg)
            c = f * c_prev + i * g
            h = o * np.tanh(c)
            steps.append(dict(x=x, h_prev=h_prev, c_prev=c_prev, i=i, f=f, o=o, g=g, c=c, h=h))
        return np.stack([s["h"] for s in steps]), steps, (h, c)

    def backward(
        self, p: Params, cache: list, dhs: np.ndarray, grads: Params
    ) -> tuple[np.ndarray | None, State]:
        dWx, dWh, db = (np.zeros_like(p[k]) for k in ("Wx", "Wh", "b"))
        dxs = [None] * len(cache)
        dhnext = np.zeros_like(cache[0]["h"])  # nothing comes back from after the window
        dcnext = np.zeros_like(cache[0]["c"])
        for t in reversed(range(len(cache))):
            s = cache[t]
            dh = dhs[t] + dhnext  # backprop into h: from the output, and from step t + 1
            tanh_c = np.tanh(s["c"])
            do = dh * tanh_c  # h = o * tanh(c)
            dc = dcnext + dh * s["o"] * (1 - tanh_c**2)  # c reaches the loss via h and c_next
            di, df, dg = dc * s["g"], dc * s["c_prev"], dc * s["i"]  # c = f * c_prev + i * g
            # backprop through the nonlinearities: sigmoid' = s (1 - s), tanh' = 1 - tanh^2
            diraw = di * s["i"] * (1 - s["i"])
            dfraw = df * s["f"] * (1 - s["f"])
            doraw = do * s["o"] * (1 - s["o"])
            dgraw = dg * (1 - s["g"] ** 2)
            draw = np.concatenate([doraw, diraw, dfraw, dgraw], axis=1)  # blocks as in Wx
            dWx += s["x"].T @ draw
            dWh += s["h_prev"].T @ draw
            db += draw.sum(axis=0)
            dxs[t] = draw @ p["Wx"].T
            dhnext = draw @ p["Wh"].T  # on to step t - 1
            dcnext = dc * s["f"]
        grads["Wx"][...], grads["Wh"][...], grads["b"][...] = dWx, dWh, db
        # dhnext, dcnext are now d loss / d the state the window started from
        return (None if self.one_hot else np.stack(dxs)), (dhnext, dcnext)

    def activations(self, cache: list) -> dict[str, np.ndarray]:
        return {k: np.stack([s[k] for s in cache]) for k in self.activation_names}
