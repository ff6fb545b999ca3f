"""A stack of recurrent cells with a softmax output layer: loss and gradients for a window."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.cells import CELL_TYPES, Cell, State
from engine.cells.base import Params
from engine.config import Config


@dataclass
class Forward:
    loss: float  # summed or per-character mean, as the config says
    nats_per_char: float
    probs: np.ndarray  # (T, B, V)
    cache: list
    top: np.ndarray  # (T, B, H) outputs of the last layer


class CharModel:
    """Parameter names are `l{i}.{name}` for layer i, plus the output layer's `Why`, `by`."""

    def __init__(self, config: Config, vocab_size: int) -> None:
        self.config = config
        self.vocab_size = vocab_size
        self.dtype = np.dtype(config.dtype)
        cell_type = CELL_TYPES[config.cell]
        self.cells: list[Cell] = [
            cell_type(vocab_size if i == 0 else config.hidden, config.hidden, one_hot=i == 0)
            for i in range(config.layers)
        ]

    def init_params(self, seed: int) -> Params:
        rs = np.random.RandomState(seed)
        params: Params = {}
        for i, cell in enumerate(self.cells):
            for name, value in cell.init_params(rs, self.config.init_scale, self.dtype).items():
                params[f"l{i}.{name}"] = value
        v, h = self.vocab_size, self.config.hidden
        params["Why"] = (rs.randn(v, h) * self.config.init_scale).astype(self.dtype)
        params["by"] = np.zeros(v, self.dtype)
        return params

    def zero_state(self, batch: int) -> list[State]:
        return [cell.zero_state(batch, self.dtype) for cell in self.cells]

    def param_count(self, params: Params) -> int:
        return sum(p.size for p in params.values())

    @staticmethod
    def layer_params(params: Params, i: int) -> Params:
        prefix = f"l{i}."
        return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}

    def run(self, params: Params, inputs: np.ndarray, state: list[State]):
        """Hidden outputs of the top layer for ids (T, B), the caches, and the new states."""
        x, caches, new_state = inputs, [], []
        for i, cell in enumerate(self.cells):
            x, cache, s = cell.forward(self.layer_params(params, i), x, state[i])
            caches.append(cache)
            new_state.append(s)
        return x, caches, new_state

    def logits(self, params: Params, top: np.ndarray) -> np.ndarray:
        return top @ params["Why"].T + params["by"]

    def forward(
        self, params: Params, inputs: np.ndarray, targets: np.ndarray, state: list[State]
    ) -> tuple[Forward, list[State]]:
        top, caches, new_state = self.run(params, inputs, state)
        probs = softmax(self.logits(params, top))
        t_idx, b_idx = np.indices(targets.shape)
        total = -float(np.log(probs[t_idx, b_idx, targets]).sum())
        n_chars = targets.size
        loss = total if self.config.loss == "sum" else total / n_chars
        return Forward(loss, total / n_chars, probs, caches, top), new_state

    def backward(self, params: Params, fwd: Forward, targets: np.ndarray) -> Params:
        grads = {k: np.zeros_like(v) for k, v in params.items()}
        dlogits = fwd.probs  # reused in place: softmax cross-entropy gradient is p - onehot
        t_idx, b_idx = np.indices(targets.shape)
        dlogits[t_idx, b_idx, targets] -= 1
        if self.config.loss == "mean":
            dlogits /= targets.size
        h = self.config.hidden
        flat = dlogits.reshape(-1, self.vocab_size)
        grads["Why"] += flat.T @ fwd.top.reshape(-1, h)
        grads["by"] += flat.sum(0)
        dx = dlogits @ params["Why"]
        for i in range(len(self.cells) - 1, -1, -1):
            layer_grads = {
                k.split(".", 1)[1]: g for k, g in grads.items() if k.startswith(f"l{i}.")
            }
            dx = self.cells[i].backward(self.layer_params(params, i), fwd.cache[i], dx, layer_grads)
        return grads

    def loss_and_grads(
        self, params: Params, inputs: np.ndarray, targets: np.ndarray, state: list[State]
    ) -> tuple[Forward, Params, list[State]]:
        fwd, new_state = self.forward(params, inputs, targets, state)
        return fwd, self.backward(params, fwd, targets), new_state


def softmax(logits: np.ndarray) -> np.ndarray:
    """Along the last axis; max-subtracted so exp never overflows. Overwrites `logits`."""
    logits -= logits.max(axis=-1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=-1, keepdims=True)
    return logits
