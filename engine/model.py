"""A stack of recurrent cells with a softmax output layer: loss and gradients for a window.

x_0 = one-hot ids (classic), or E[ids] with an embedding table E (V, D)
h_i = cell_i(dropout(h_{i-1}))   for each layer; dropout only between layers, training only
p = softmax(h_top Why^T + by),   loss = -sum or -mean of log p[target]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine import packed
from engine.cells import CELL_TYPES, Cell, State
from engine.cells.base import Params, RowStep
from engine.cells.ops import dot_last, scatter_rows, sum_rows
from engine.config import Config


@dataclass
class Trace:
    """What the backward pass needs from a forward run."""

    inputs: np.ndarray  # ids (T, B)
    caches: list[Any]  # one per layer, opaque to the model
    masks: list[np.ndarray | None] = field(default_factory=list)  # dropout before layer i


@dataclass
class Forward:
    loss: float  # summed or per-character mean, as the config says
    nats_per_char: float
    probs: np.ndarray  # (T, B, V); backward overwrites it with the logits' gradient
    cache: Trace | None  # None from a batch split across threads (engine/parallel.py)
    top: np.ndarray  # (T, B, H) outputs of the last layer


class CharModel:
    """Parameter names are `l{i}.{name}` for layer i, plus the output layer's `Why`, `by`, and
    `E` when the config asks for an embedding."""

    def __init__(self, config: Config, vocab_size: int) -> None:
        self.config = config
        self.vocab_size = vocab_size
        self.threads = config.threads  # once: it asks the OS for the core count
        self.dtype = np.dtype(config.dtype)
        self.embedding = config.embedding
        cell_type = CELL_TYPES[config.cell]
        first_input = config.embedding or vocab_size
        self.cells: list[Cell] = [
            cell_type(
                first_input if i == 0 else config.hidden,
                config.hidden,
                one_hot=i == 0 and not config.embedding,
            )
            for i in range(config.layers)
        ]
        self._layer_keys: list[list[tuple[str, str]]] = []  # (name in cell, name in params)
        self._row_starts: dict[int, np.ndarray] = {}  # arange(n) * V, to index targets flat

    def init_params(self, seed: int) -> Params:
        rs = np.random.RandomState(seed)
        params: Params = {}
        for i, cell in enumerate(self.cells):
            for name, value in cell.init_params(rs, self.config.init_scale, self.dtype).items():
                params[f"l{i}.{name}"] = value
        v, h = self.vocab_size, self.config.hidden
        params["Why"] = (rs.randn(v, h) * self.config.init_scale).astype(self.dtype)
        params["by"] = np.zeros(v, self.dtype)
        if self.embedding:  # drawn last, so adding an embedding leaves the other weights alone
            params["E"] = (rs.randn(v, self.embedding) * self.config.init_scale).astype(self.dtype)
        return packed.packed(params)

    def zero_state(self, batch: int) -> list[State]:
        return [cell.zero_state(batch, self.dtype) for cell in self.cells]

    def param_count(self, params: Params) -> int:
        return sum(p.size for p in params.values())

    def layer_params(self, params: Params, i: int) -> Params:
        """Layer i's slice of `params` (or of gradients named alike), by its short names.
        The names are worked out once: a comprehension over every key each step costs."""
        if not self._layer_keys:
            self._layer_keys = [
                [(full.split(".", 1)[1], full) for full in params if full.startswith(f"l{j}.")]
                for j in range(len(self.cells))
            ]
        return {short: params[full] for short, full in self._layer_keys[i]}

    def forward_layers(
        self,
        params: Params,
        inputs: np.ndarray,
        state: list[State],
        rng: np.random.Generator | None = None,
        masks: list[np.ndarray | None] | None = None,
    ) -> tuple[np.ndarray, Trace, list[State]]:
        """Hidden outputs of the top layer for ids (T, B), a trace for backward, the new
        states. Dropout applies only when `rng` is given (training) and the config has it,
        or with `masks` given, one per layer (None for none), as a replay of a training
        step uses the masks that step drew."""
        x = params["E"].take(inputs, axis=0) if self.embedding else inputs
        trace, new_state = Trace(inputs, []), []
        for i, cell in enumerate(self.cells):
            mask = None
            if masks is not None:
                mask = masks[i]
            elif i > 0 and rng is not None and self.config.dropout > 0:
                mask = dropout_mask(rng, x.shape, self.config.dropout, x.dtype)
            if mask is not None:
                x = x * mask
            x, cache, s = cell.forward(self.layer_params(params, i), x, state[i])
            trace.caches.append(cache)
            trace.masks.append(mask)
            new_state.append(s)
        return x, trace, new_state

    def row_steps(self, params: Params) -> list[RowStep]:
        """One-row steppers for every layer, from a zero state: for sampling (see RowStep)."""
        return [cell.row_step(self.layer_params(params, i)) for i, cell in enumerate(self.cells)]

    def logits(self, params: Params, top: np.ndarray) -> np.ndarray:
        z = dot_last(top, params["Why"].T)
        z += params["by"]
        return z

    def _target_index(self, targets: np.ndarray) -> np.ndarray:
        """Where each target's probability sits in the flattened (T * B * V) probabilities:
        one flat index array is faster to gather and scatter with than (row, column) pairs."""
        n = targets.size
        starts = self._row_starts.get(n)
        if starts is None:
            starts = self._row_starts[n] = np.arange(n) * self.vocab_size
        return starts + targets.reshape(-1)

    def forward(
        self,
        params: Params,
        inputs: np.ndarray,
        targets: np.ndarray,
        state: list[State],
        rng: np.random.Generator | None = None,
        masks: list[np.ndarray | None] | None = None,
    ) -> tuple[Forward, list[State]]:
        top, trace, new_state = self.forward_layers(params, inputs, state, rng, masks)
        # The output layer and softmax for the whole window at once, on (T * B, V) rows.
        z = np.dot(top.reshape(-1, top.shape[-1]), params["Why"].T)
        z += params["by"]
        probs = softmax(z)
        # 0.0 - x rather than -x: the same for every x but 0.0, whose negation prints "-0.0"
        # (a one-character corpus, where every probability is 1).
        total = 0.0 - float(np.add.reduce(np.log(probs.reshape(-1)[self._target_index(targets)])))
        n_chars = targets.size
        loss = total if self.config.loss == "sum" else total / n_chars
        probs = probs.reshape(*targets.shape, self.vocab_size)
        return Forward(loss, total / n_chars, probs, trace, top), new_state

    def backward(
        self,
        params: Params,
        fwd: Forward,
        targets: np.ndarray,
        seen: list[np.ndarray] | None = None,
    ) -> Params:
        """The gradients of the window's loss; `seen` (see backward_layers) receives the
        gradient reaching each layer's outputs."""
        grads = packed.empty_like(params)  # each fully written below
        dlogits = fwd.probs  # reused in place: softmax cross-entropy gradient is p - onehot
        flat = dlogits.reshape(-1, self.vocab_size)
        flat.reshape(-1)[self._target_index(targets)] -= 1
        if self.config.loss == "mean":
            flat /= targets.size
        h = self.config.hidden
        np.dot(flat.T, fwd.top.reshape(-1, h), out=grads["Why"])
        sum_rows(flat, out=grads["by"])
        trace = fwd.cache
        assert trace is not None, "backward needs the Forward of one unsplit pass"
        dx = self.backward_layers(params, trace, dot_last(dlogits, params["Why"]), grads, seen)
        if self.embedding:
            rows = dx.reshape(-1, self.embedding)
            scatter_rows(trace.inputs, rows, self.vocab_size, out=grads["E"])
        return grads

    def backward_layers(
        self,
        params: Params,
        trace: Trace,
        dx: np.ndarray,
        grads: Params,
        seen: list[np.ndarray] | None = None,
    ) -> np.ndarray | None:
        """From `dx` (T, B, H), d loss / d the top layer's outputs, down through every layer:
        writes each layer's gradients into `grads` and returns d loss / d the first layer's
        inputs (None for one-hot ids). Given `seen`, a list with one entry per layer, entry i
        receives a copy of d loss / d layer i's outputs (its `dhs`), for inspection."""
        for i in range(len(self.cells) - 1, -1, -1):
            if seen is not None:
                seen[i] = dx.copy()
            layer_grads = self.layer_params(grads, i)
            # The incoming state's gradient is left out: the state is carried, not learnt.
            dx, _ = self.cells[i].backward(
                self.layer_params(params, i), trace.caches[i], dx, layer_grads
            )
            if trace.masks[i] is not None:
                dx *= trace.masks[i]
        return dx

    def loss_and_grads(
        self,
        params: Params,
        inputs: np.ndarray,
        targets: np.ndarray,
        state: list[State],
        rng: np.random.Generator | None = None,
    ) -> tuple[Forward, Params, list[State]]:
        threads = self.threads
        if threads > 1 and inputs.shape[1] >= threads:
            from engine.parallel import split_loss_and_grads  # parallel.py builds on this one

            return split_loss_and_grads(self, params, inputs, targets, state, rng, threads)
        fwd, new_state = self.forward(params, inputs, targets, state, rng)
        return fwd, self.backward(params, fwd, targets), new_state


def dropout_mask(
    rng: np.random.Generator, shape: tuple[int, ...], rate: float, dtype: np.dtype
) -> np.ndarray:
    """Inverted dropout: zero with probability `rate`, else 1/(1-rate), so the expected
    activation is unchanged and nothing needs rescaling at inference time."""
    keep = rng.random(shape, dtype=np.float32) >= rate
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - rate))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Along the last axis; max-subtracted so exp never overflows. Overwrites `logits`."""
    axis = logits.ndim - 1  # ufunc reductions: the ndarray methods add a Python layer
    logits -= np.maximum.reduce(logits, axis=axis, keepdims=True)
    np.exp(logits, out=logits)
    logits /= np.add.reduce(logits, axis=axis, keepdims=True)
    return logits
