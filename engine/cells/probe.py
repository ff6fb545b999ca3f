"""A cell run once over a small random window, forward and backward, with each answer checked
against the protocol (engine/cells/base.py): the types and shapes of what every method
returns, the dtype kept, no NaN or infinity, every gradient element written, the inputs and
weights left unchanged, the declared activations and the state they end in.

Anything wrong is one CharrnnError line naming the cell and what is wrong, so a broken cell
file is refused before it trains (and `charrnn gradcheck --cell-file` says why).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np

from engine.cells.base import Cell, Params, State
from engine.cells.guard import running, source_file
from engine.errors import CharrnnError

STEPS, BATCH, HIDDEN = 4, 2, 5  # T, B, H of the probe's window
DENSE_INPUTS, VOCAB = 3, 6  # D for a dense layer, V for a one-hot one
PARAM_NAME = re.compile(r"[A-Za-z]\w*")


@dataclass
class Window:
    """One forward and backward pass of a cell over a random window, its answers checked."""

    cell: Cell
    params: Params
    xs: np.ndarray  # ids (T, B) or vectors (T, B, D)
    state: State  # the incoming state
    dhs: np.ndarray  # d loss / d hs handed to backward (a copy: it is the cell's scratch)
    # what the cell answered
    hs: np.ndarray = field(default_factory=lambda: np.empty(0))
    new_state: State = ()
    activations: dict[str, np.ndarray] = field(default_factory=dict)
    grads: Params = field(default_factory=dict)
    dxs: np.ndarray | None = None
    dstate: State = ()


class Probe:
    """Checks on one cell class; `fail` is the one line each problem becomes."""

    def __init__(self, cls: type[Cell], where: str, debug: bool = False) -> None:
        self.cls, self.where, self.debug = cls, where, debug
        self.path = source_file(cls)

    def fail(self, message: str) -> NoReturn:
        raise CharrnnError(f"{self.where}: {message}")

    def call(self, what: str, method: Any, *args: Any) -> Any:
        with running(self.path, what, self.debug):
            return method(*args)

    def array(self, value: Any, what: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        if not isinstance(value, np.ndarray):
            self.fail(f"{what} must be a numpy array (got {type(value).__name__})")
        if value.shape != shape:
            self.fail(f"{what} has shape {value.shape}; the protocol wants {shape}")
        if value.dtype != dtype:
            self.fail(f"{what} is {value.dtype} for {dtype} weights (keep the weights' dtype)")
        if not np.isfinite(value).all():
            bad = int((~np.isfinite(value)).sum())
            self.fail(f"{what} holds {bad} NaN or infinite values of {value.size}")

    def state(self, value: Any, what: str, dtype: np.dtype) -> State:
        names = self.cls.state_names
        if not isinstance(value, tuple) or len(value) != len(names):
            got = f"{len(value)}" if isinstance(value, tuple) else f"a {type(value).__name__}"
            self.fail(
                f"{what} must be a tuple of {len(names)} array(s), {', '.join(names)} (got {got})"
            )
        for name, a in zip(names, value, strict=True):
            self.array(a, f"{what} {name}", (BATCH, HIDDEN), dtype)
        return value

    def params(self, cell: Cell, rs: np.random.RandomState, dtype: np.dtype) -> Params:
        p = self.call("init_params", cell.init_params, rs, 0.5, dtype)
        if not isinstance(p, dict) or not p:
            self.fail(f"init_params must return a dict of arrays by name (got {p!r:.60})")
        for name, value in p.items():
            if not (isinstance(name, str) and PARAM_NAME.fullmatch(name)):
                self.fail(f"init_params: weight name {name!r} must be a letter then letters, "
                          "digits or _")  # fmt: skip
            if not isinstance(value, np.ndarray) or value.dtype != dtype or value.size == 0:
                self.fail(f"init_params: {name} must be a non-empty {dtype} numpy array")
        # Biases start at zero: nudge everything so that no path through the cell is idle.
        return {k: (v + rs.randn(*v.shape) * 0.1).astype(dtype) for k, v in p.items()}

    def activations(self, cell: Cell, cache: Any, w: Window, dtype: np.dtype) -> None:
        acts = self.call("activations", cell.activations, cache)
        declared = tuple(self.cls.activation_names)
        if not isinstance(acts, dict) or set(acts) != set(declared):
            got = sorted(acts) if isinstance(acts, dict) else type(acts).__name__
            self.fail(f"activations returned {got}; the class declares activation_names {declared}")
        for name in declared:
            self.array(acts[name], f"activation {name}", w.hs.shape, dtype)
        if not np.array_equal(acts["h"], w.hs):
            self.fail("activation h differs from the outputs hs that forward returned")
        for name, a in zip(self.cls.state_names, w.new_state, strict=True):
            if not np.array_equal(acts[name][-1], a):
                self.fail(f"the state {name} forward returned is not activation {name}'s last step")
        w.activations = acts


def _window(cell: Cell, rs: np.random.RandomState, dtype: np.dtype, steps: int) -> np.ndarray:
    if cell.one_hot:
        return rs.randint(cell.input_size, size=(steps, BATCH))
    return rs.randn(steps, BATCH, cell.input_size).astype(dtype)


def _copies(w: Window) -> list[np.ndarray]:
    return [w.xs.copy(), *(a.copy() for a in w.state), *(a.copy() for a in w.params.values())]


def _unchanged(probe: Probe, w: Window, before: list[np.ndarray], method: str) -> None:
    now = [w.xs, *w.state, *w.params.values()]
    if not all(np.array_equal(a, b) for a, b in zip(now, before, strict=True)):
        probe.fail(f"{method} changed its inputs, state or weights in place (work on copies)")


def _forward(probe: Probe, w: Window, dtype: np.dtype) -> Any:
    out = probe.call("forward", w.cell.forward, w.params, w.xs, w.state)
    if not isinstance(out, tuple) or len(out) != 3:
        probe.fail("forward must return (hs, cache, state)")
    hs, cache, new_state = out
    probe.array(hs, "forward's hs", (len(w.xs), BATCH, HIDDEN), dtype)
    w.hs, w.new_state = hs, probe.state(new_state, "forward's state", dtype)
    return cache


def _backward(probe: Probe, w: Window, cache: Any, dtype: np.dtype) -> None:
    grads = {k: np.full_like(v, np.nan) for k, v in w.params.items()}  # unwritten stays NaN
    arrays = dict(grads)  # the arrays the model would read, even if backward rebinds a name
    out = probe.call("backward", w.cell.backward, w.params, cache, w.dhs.copy(), grads)
    if not isinstance(out, tuple) or len(out) != 2:
        probe.fail("backward must return (d inputs or None, d incoming state)")
    dxs, dstate = out
    for name, g in arrays.items():
        if not np.isfinite(g).all():
            bad = int((~np.isfinite(g)).sum())
            probe.fail(
                f"backward left {bad} of {g.size} elements of the gradient of {name} unwritten "
                f"or NaN (write into the array given: grads[{name!r}][...] = ...)"
            )
    if w.cell.one_hot and dxs is not None:
        probe.fail("backward must return None for the inputs' gradient of a one-hot layer")
    if not w.cell.one_hot:
        probe.array(dxs, "backward's d inputs", w.xs.shape, dtype)
    w.grads, w.dxs, w.dstate = arrays, dxs, probe.state(dstate, "backward's d state", dtype)


def probe(
    cls: type[Cell],
    where: str | None = None,
    *,
    one_hot: bool = False,
    dtype: str = "float64",
    seed: int = 0,
    debug: bool = False,
    steps: int = STEPS,
) -> Window:
    """Run `cls` over a random window and check every answer; a CharrnnError on the first
    problem. The Window it returns is what the gradient check builds on."""
    checks = Probe(cls, where or f"cell {cls.name}", debug)
    dt, rs = np.dtype(dtype), np.random.RandomState(seed)
    cell = checks.call("__init__", cls, VOCAB if one_hot else DENSE_INPUTS, HIDDEN, one_hot)
    params = checks.params(cell, rs, dt)
    zero = checks.state(checks.call("zero_state", cell.zero_state, BATCH, dt), "zero_state", dt)
    if any(a.any() for a in zero):
        checks.fail("zero_state must be all zeros")
    state = tuple((rs.randn(BATCH, HIDDEN) * 0.5).astype(dt) for _ in zero)
    xs, dhs = _window(cell, rs, dt, steps), rs.randn(steps, BATCH, HIDDEN).astype(dt)
    w = Window(cell, params, xs, state, dhs)
    before = _copies(w)
    cache = _forward(checks, w, dt)
    _unchanged(checks, w, before, "forward")
    checks.activations(cell, cache, w, dt)
    _backward(checks, w, cache, dt)
    _unchanged(checks, w, before, "backward")
    return w


def probe_all(cls: type[Cell], where: str | None = None, debug: bool = False) -> None:
    """`probe` for a one-hot and a dense layer, in float64 and float32."""
    for one_hot in (True, False):
        for dtype in ("float64", "float32"):
            probe(cls, where, one_hot=one_hot, dtype=dtype, debug=debug)
