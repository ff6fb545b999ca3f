"""Numerical versus analytic gradients, and a cell's protocol, for any registered cell.

`check` compares every parameter's gradient of a tiny model's loss with central
differences. `check_cell` adds what a cell of one's own needs checked: the protocol (through
engine/cells/probe.py, whose failures are one-line errors), `row_step` against `forward`, and
the gradients backward hands back for the incoming state and for dense inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.cells.base import has_own_row_step
from engine.cells.guard import running, source_file
from engine.cells.probe import STEPS, Window, probe, probe_all
from engine.cells.registry import cell_type
from engine.config import Config
from engine.model import CharModel

STEP = 1e-5
TOLERANCE = 1e-5
# An entry's relative error is |a - n| / max(|a|, |n|, FLOOR): below FLOOR a gradient is too
# small for its rounding noise (about 1e-9 here) to be a fair fraction of it.
FLOOR = 1e-3
ROW_TOLERANCE = 1e-9  # row_step against forward, largest absolute difference (float64)
WORST_SHOWN = 3
ONE_STEP = "the cell alone, one step: a failure is in one step's own derivatives"
THROUGH_TIME = f"the cell alone, {STEPS} steps: adds what flows back through time (dhnext; dcnext)"
IN_MODEL = "the cell inside charrnn's model"


@dataclass(frozen=True)
class Entry:
    index: tuple[int, ...]
    analytic: float
    numeric: float


@dataclass(frozen=True)
class ParamCheck:
    name: str
    shape: tuple[int, ...]
    rel_error: float  # the largest over the entries: |a - n| / max(|a|, |n|, FLOOR)
    worst: tuple[Entry, ...] = ()  # the entries with the largest errors, worst first

    @property
    def ok(self) -> bool:
        return self.rel_error < TOLERANCE


@dataclass(frozen=True)
class Finding:
    """One protocol check that compares numbers (the ones that cannot run raise instead)."""

    what: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Section:
    """Gradients checked on one set-up: the cell alone over one step or a window, or the
    whole model."""

    title: str
    about: str  # what a failure here means
    gradients: list[ParamCheck]


@dataclass(frozen=True)
class CellReport:
    cell: str
    findings: list[Finding]
    sections: list[Section]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings) and all(
            g.ok for s in self.sections for g in s.gradients
        )

    def failures(self) -> list[str]:
        """What failed, one phrase per finding or section: `row_step against forward,
        one-hot input`, `one step: Wxf, d state h`."""
        out = [f.what for f in self.findings if not f.ok]
        for s in self.sections:
            bad = [g.name for g in s.gradients if not g.ok]
            if bad:
                out.append(f"{s.title}: {', '.join(bad)}")
        return out

    def diagnosis(self) -> str:
        """Where to look first, from which set-ups fail."""
        if any(not f.ok for f in self.findings):
            return "row_step disagrees with forward: the two must compute the same step"
        failing = [[g.name for g in s.gradients if not g.ok] for s in self.sections]
        if failing[0]:
            return (
                f"one step already disagrees ({', '.join(failing[0])}): look in backward at "
                "the derivatives that lead to them, within one step"
            )
        if failing[1]:
            return (
                "one step agrees and a window does not: look at what backward hands on to "
                "the step before (dhnext, and the memory's gradient if the cell has one)"
            )
        if failing[2]:
            return (
                "the cell agrees alone, not inside the model: look at backward's d inputs "
                "(the layer below's gradient) and at which gradient arrays it writes"
            )
        return "every gradient agrees"

    @property
    def count(self) -> int:
        return len(self.findings) + sum(len(s.gradients) for s in self.sections)


def compare(name: str, analytic: np.ndarray, numeric: np.ndarray) -> ParamCheck:
    errors = np.abs(analytic - numeric) / np.maximum(
        np.maximum(np.abs(analytic), np.abs(numeric)), FLOOR
    )
    order = np.argsort(-errors, axis=None, kind="stable")[:WORST_SHOWN]
    worst = tuple(
        Entry(tuple(int(k) for k in idx), float(analytic[idx]), float(numeric[idx]))
        for idx in (np.unravel_index(i, errors.shape) for i in order)
    )
    rel = float(errors.max()) if errors.size else 0.0
    return ParamCheck(name, analytic.shape, rel, worst)


def central_differences(loss: Callable[[], float], array: np.ndarray) -> np.ndarray:
    """d loss / d array, one entry at a time, changing `array` in place and restoring it."""
    numeric = np.zeros_like(array)
    flat, nflat = array.reshape(-1), numeric.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + STEP
        plus = loss()
        flat[i] = old - STEP
        minus = loss()
        flat[i] = old
        nflat[i] = (plus - minus) / (2 * STEP)
    return numeric


def check(config: Config, vocab_size: int = 7, batch: int = 2, seed: int = 0) -> list[ParamCheck]:
    """Central differences on every entry of every parameter (the model is tiny), float64.

    Weights start larger than training's 0.01 so that every gradient is well above rounding,
    and the hidden state starts non-zero so its path is exercised too. With dropout, every
    evaluation draws the same masks (a generator restarted from the same seed).
    """
    config = config.replace(dtype="float64", batch=batch, init_scale=0.3)
    model = CharModel(config, vocab_size)
    params = model.init_params(seed)
    rs = np.random.RandomState(seed + 1)
    inputs = rs.randint(vocab_size, size=(config.seq_length, batch))
    targets = rs.randint(vocab_size, size=(config.seq_length, batch))
    state = [tuple(rs.randn(*a.shape) * 0.5 for a in s) for s in model.zero_state(batch)]

    def rng() -> np.random.Generator | None:
        return np.random.default_rng(seed + 2) if config.dropout > 0 else None

    def loss() -> float:
        return model.forward(params, inputs, targets, state, rng())[0].loss

    _, grads, _ = model.loss_and_grads(params, inputs, targets, state, rng())
    grads = {k: g.copy() for k, g in grads.items()}
    return [compare(name, grads[name], central_differences(loss, p)) for name, p in params.items()]


def describe_model(config: Config) -> str:
    layers = "1 layer" if config.layers == 1 else f"{config.layers} layers"
    return f"the model's loss (hidden {config.hidden}, {config.seq_length} steps, {layers})"


# -- a cell's own checks ------------------------------------------------------------------------


def _window_loss(w: Window) -> Callable[[], float]:
    """sum(dhs * hs) from the window's current inputs: its gradient with respect to hs is
    dhs, the gradient the probe handed to backward."""

    def loss() -> float:
        hs = w.cell.forward(w.params, w.xs, w.state)[0]
        return float(np.sum(w.dhs * hs))

    return loss


def window_gradients(w: Window) -> list[ParamCheck]:
    """What backward returned for the weights, the incoming state and dense inputs, against
    central differences of the same window's loss sum(dhs * hs)."""
    loss = _window_loss(w)
    checks = [
        compare(name, w.grads[name], central_differences(loss, a)) for name, a in w.params.items()
    ]
    checks += [
        compare(f"d state {name}", np.asarray(d), central_differences(loss, a))
        for name, a, d in zip(w.cell.state_names, w.state, w.dstate, strict=True)
    ]
    if w.dxs is not None:
        checks.append(compare("d inputs", w.dxs, central_differences(loss, w.xs)))
    return checks


def row_step_finding(w: Window) -> Finding:
    """The cell's own row_step, stream 0 of the window one input at a time, against forward."""
    kind = "one-hot" if w.cell.one_hot else "dense"
    what = f"row_step against forward, {kind} input"
    stepper = w.cell.row_step(w.params)
    stepper.set_state(tuple(a[:1].copy() for a in w.state))
    steps = np.array([np.array(stepper.step(x[0]), copy=True) for x in w.xs])
    end = stepper.state()
    diffs = [np.abs(steps - w.hs[:, 0]).max()]
    diffs += [np.abs(np.asarray(a) - b[:1]).max() for a, b in zip(end, w.new_state, strict=True)]
    largest = float(max(diffs))
    ok = largest <= ROW_TOLERANCE
    return Finding(what, ok, f"largest difference {largest:.1e} (at most {ROW_TOLERANCE:g})")


def check_cell(config: Config, debug: bool = False, where: str | None = None) -> CellReport:
    """The protocol (a CharrnnError on the first problem that stops the checks), row_step,
    and the gradients of the model with this cell, of its incoming state and of its inputs."""
    cls = cell_type(config.cell)
    probe_all(cls, where, debug)
    with running(source_file(cls), "the gradient check", debug):
        windows = [probe(cls, where, one_hot=one_hot, debug=debug) for one_hot in (True, False)]
        findings = [row_step_finding(w) for w in windows if has_own_row_step(cls)]
        if not findings:
            findings = [
                Finding("row_step", True, "none: sampling runs forward a character at a time")
            ]
        one = probe(cls, where, debug=debug, steps=1)
        sections = [
            Section("one step", ONE_STEP, window_gradients(one)),
            Section(f"{STEPS} steps", THROUGH_TIME, window_gradients(windows[1])),
            Section("the model", f"{describe_model(config)}: {IN_MODEL}", check(config)),
        ]
    return CellReport(cls.name, findings, sections)
