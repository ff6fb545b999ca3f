"""Optimisers that update parameters in place, and gradient clipping."""

from __future__ import annotations

import numpy as np

from engine.cells.base import Params


def clip_elementwise(grads: Params, limit: float) -> None:
    """min-char-rnn's `np.clip(dparam, -5, 5, out=dparam)`, for every gradient."""
    if limit > 0:
        for g in grads.values():  # np.minimum/maximum: np.clip's Python wrapper costs ~5 us
            np.minimum(g, limit, out=g)
            np.maximum(g, -limit, out=g)


class Adagrad:
    """min-char-rnn's Adagrad: mem += g*g; p -= lr * g / sqrt(mem + 1e-8)."""

    name = "adagrad"

    def __init__(self, params: Params, lr: float, eps: float = 1e-8) -> None:
        self.lr, self.eps = lr, eps
        self.state: dict[str, np.ndarray] = {
            f"mem.{k}": np.zeros_like(v) for k, v in params.items()
        }

    def update(self, params: Params, grads: Params) -> None:
        for name, p in params.items():
            g, mem = grads[name], self.state[f"mem.{name}"]
            mem += g * g
            p -= self.lr * g / np.sqrt(mem + self.eps)


def make_optimizer(name: str, params: Params, lr: float) -> Adagrad:
    return {"adagrad": Adagrad}[name](params, lr)
