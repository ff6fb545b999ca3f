"""Optimisers that update parameters in place, gradient clipping, and the learning-rate schedule.

Every optimiser keeps all of its state as arrays in `self.state` (moments, Adam's step count);
`state_dict` hands them out by name and `load_state_dict` checks and copies them back, so
resuming is exact (a checkpoint stores them as `optim/<name>`).
The learning rate is an attribute the trainer sets before each update (engine/schedule.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine import packed
from engine.cells.base import Params
from engine.config import Config
from engine.statedict import load_arrays_into

GLOBAL_NORM_EPS = 1e-6  # as torch.nn.utils.clip_grad_norm_: scale = max_norm / (norm + 1e-6)


class Optimizer(Protocol):
    name: str
    lr: float
    state: dict[str, np.ndarray]

    def update(self, params: Params, grads: Params) -> None: ...

    def state_dict(self) -> dict[str, np.ndarray]: ...

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None: ...


class ArrayState:
    """State dictionaries for an optimiser whose whole state is the arrays in `self.state`."""

    state: dict[str, np.ndarray]

    def state_dict(self) -> dict[str, np.ndarray]:
        """The optimiser's own arrays by name (not copies)."""
        return dict(self.state)

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        """Copy `d` into the state, once every name, shape and dtype is known to match."""
        load_arrays_into("optimizer state", d, self.state)


def clip_elementwise(grads: Params, limit: float) -> None:
    """min-char-rnn's `np.clip(dparam, -5, 5, out=dparam)`, for every gradient."""
    if limit > 0:
        for (g,) in packed.aligned(grads):  # np.minimum/maximum: np.clip's wrapper costs ~5 us
            np.minimum(g, limit, out=g)
            np.maximum(g, -limit, out=g)


def global_norm(grads: Params) -> float:
    """The L2 norm of all gradients taken together, accumulated in float64."""
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


def clip_global_norm(grads: Params, max_norm: float) -> float:
    """Scale every gradient by the same factor so that their joint L2 norm is at most
    `max_norm` (0 disables); this keeps the update's direction, unlike element-wise clipping.
    Returns the norm before clipping."""
    norm = global_norm(grads)
    if max_norm > 0:
        scale = max_norm / (norm + GLOBAL_NORM_EPS)
        if scale < 1:
            for g in grads.values():
                g *= g.dtype.type(scale)
    return norm


@dataclass(frozen=True)
class Clipping:
    clip: float  # the element-wise limit, ±clip (0: off)
    clip_norm: float  # the limit on all gradients' joint L2 norm (0: off)
    changed: int  # gradient elements the element-wise clip changed
    elements: int  # gradient elements in all
    by_param: dict[str, int]  # the changed elements per parameter (those with any)
    norm: float  # the joint norm of the window's gradient, before clipping
    scale: float  # what the norm clip multiplied every gradient by (1: nothing)
    norm_after: float  # the joint norm after both clips


def clipping_of(config: Config, grads: Params) -> Clipping:
    """What Trainer.step's clipping (clip_elementwise, then clip_global_norm) does to
    `grads`, a window's gradient summed over its steps and streams: for the inspect views,
    on copies."""
    raw = {k: np.array(g, dtype=np.float64) for k, g in grads.items()}
    clipped = {k: g.copy() for k, g in raw.items()}
    clip_elementwise(clipped, config.clip)
    by_param = {k: int((clipped[k] != raw[k]).sum()) for k in raw}
    middle = global_norm(clipped)
    if config.clip_norm > 0:
        clip_global_norm(clipped, config.clip_norm)
    after = global_norm(clipped)
    return Clipping(
        clip=config.clip,
        clip_norm=config.clip_norm,
        changed=sum(by_param.values()),
        elements=sum(g.size for g in raw.values()),
        by_param={k: n for k, n in by_param.items() if n},
        norm=global_norm(raw),
        scale=after / middle if middle > 0 else 1.0,
        norm_after=after,
    )


class Adagrad(ArrayState):
    """mem += g*g, then min-char-rnn's p -= lr * g / sqrt(mem + 1e-8) (`eps_inside`), or
    PyTorch's p -= lr * g / (sqrt(mem) + 1e-10). The second keeps early steps near lr in size
    (the first shrinks tiny minibatch gradients less gently), and learns better with B > 1."""

    def __init__(self, params: Params, lr: float, *, eps_inside: bool = True) -> None:
        self.name = "adagrad" if eps_inside else "adagrad-torch"
        self.lr, self.eps_inside = lr, eps_inside
        self.eps = 1e-8 if eps_inside else 1e-10
        self.mem = packed.zeros_like(params)
        self.state: dict[str, np.ndarray] = {f"mem.{k}": v for k, v in self.mem.items()}
        # Scratch, not state: a temporary the size of the whole model would be a fresh
        # allocation (and page faults) every step.
        self._tmp, self._tmp2 = packed.empty_like(params), packed.empty_like(params)

    def update(self, params: Params, grads: Params) -> None:
        # The same arithmetic on the whole model at once when everything is packed alike.
        for p, g, mem, root, step in packed.aligned(params, grads, self.mem, self._tmp, self._tmp2):
            np.multiply(g, g, out=root)
            mem += root
            if self.eps_inside:  # min-char-rnn's p -= lr * g / sqrt(mem + 1e-8), term for term
                np.add(mem, self.eps, out=root)
                np.sqrt(root, out=root)
            else:
                np.sqrt(mem, out=root)
                root += self.eps
            np.multiply(g, self.lr, out=step)
            step /= root
            p -= step


class Adam(ArrayState):
    """Adam with bias correction, in PyTorch's arrangement:
    m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g²;  t += 1
    p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    The step count t is an array in `state` so that it is checkpointed with the moments."""

    name = "adam"

    def __init__(
        self, params: Params, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m, self.v = packed.zeros_like(params), packed.zeros_like(params)
        self.state: dict[str, np.ndarray] = {"step": np.zeros((), np.int64)}
        for k in params:
            self.state[f"m.{k}"] = self.m[k]
            self.state[f"v.{k}"] = self.v[k]
        self._tmp = packed.empty_like(params)  # scratch, not state

    def update(self, params: Params, grads: Params) -> None:
        self.state["step"] += 1
        t = int(self.state["step"])
        b1, b2 = self.beta1, self.beta2
        step_size = self.lr / (1 - b1**t)
        root_bc2 = math.sqrt(1 - b2**t)
        for p, g, m, v, tmp in packed.aligned(params, grads, self.m, self.v, self._tmp):
            m *= b1
            np.multiply(g, 1 - b1, out=tmp)
            m += tmp
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp /= root_bc2
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            p -= tmp


def make_optimizer(config: Config, params: Params) -> Optimizer:
    """The config's optimiser, keeping a running average of the weights when it asks for
    one (engine/averaging.py)."""
    inner: Optimizer
    if config.optimizer == "adam":
        inner = Adam(params, config.lr, config.beta1, config.beta2)
    else:
        inner = Adagrad(params, config.lr, eps_inside=config.optimizer == "adagrad")
    if not config.average:
        return inner
    from engine.averaging import Averaged  # it builds on this module

    return Averaged(inner, params, config.average)
