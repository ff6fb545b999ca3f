"""The chain rule at one time step, for one unit, in numbers.

For a built-in cell the backward equations of step t are written out as min-char-rnn (and the
textbook cells, engine/cells/textbook/) write them, each with the chosen unit's numbers put
in. What flows in (the gradient from the output or the layer above, and `dh_next` from step
t+1) is taken from the engine's own backward pass (engine/through_time.py); the step's
equations then give what flows on to step t−1, which tests check against the engine's.

For one weight entry, the analytic gradient of the window's loss is set beside a central
difference computed there and then: two forward passes of the model in float64 with the same
start state and dropout masks. A user's cell gets its declared equations, the norms and the
weight check, without per-term numbers (charrnn cannot know its insides).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.cells.base import Cell
from engine.gradcheck import FLOOR
from engine.gradcheck import STEP as FD_STEP
from engine.through_time import WindowPass
from engine.vocab import Vocab

OUT, IN, FORGET, CAND = range(4)  # the LSTM's gate blocks (engine/cells/lstm.py)
R, Z, N = range(3)  # the GRU's (engine/cells/gru.py)


@dataclass(frozen=True)
class Term:
    name: str  # what it computes: dy, dh, dh_raw, ...
    equation: str  # as min-char-rnn or the textbook cell writes it
    numbers: str  # the chosen unit's numbers put in
    value: float  # the result for the unit


@dataclass(frozen=True)
class WeightCheck:
    param: str  # e.g. "l0.Whh"
    index: tuple[int, ...]
    label: str  # as the equations name it, e.g. "Whh[42, 7]"
    this_step: float | None  # step t's term of the sum (None for a user's cell)
    analytic: float  # the engine's d L / d entry, L the window's loss (this stream), float64
    numeric: float  # (L(w + ε) − L(w − ε)) / 2ε from two forward passes
    rel_error: float  # |analytic − numeric| / max(|analytic|, |numeric|, 1e-3), as gradcheck


@dataclass(frozen=True)
class ChainStep:
    layer: int
    t: int
    unit: int
    cell: str
    input: str  # the character read at step t
    target: str  # the one it should predict
    equations: tuple[str, ...]  # the cell's forward equations, as it declares them
    terms: list[Term]  # the backward equations with numbers; empty for a user's cell
    passes_on: dict[str, np.ndarray]  # what the step sends to step t−1 (dh_next, dc_next)
    norms: list[tuple[str, float]]  # sizes of the vectors involved
    check: WeightCheck


SHOWN = {" ": "·", "\n": "⏎", "\t": "→"}  # as the inspect views draw them (tui/visible.py)


def _g(x: float) -> str:
    return f"{x:.3g}"


def _sq(x: float) -> str:
    """x² as written out: 0.5², (-0.5)²."""
    return f"{x:.3f}²" if x >= 0 else f"({x:.3f})²"


def _top_terms(wp: WindowPass, layer: int, t: int, j: int, vocab: Vocab) -> list[Term]:
    """The top layer's dy = p − onehot(target), with the target's and the top prediction's
    values; a lower layer gets its gradient from the layer above instead (in dh's line)."""
    if layer + 1 < len(wp.model.cells):
        return []
    p, target = wp.probs[t], int(wp.targets[t, 0])
    best = int(np.argmax(p))
    label = lambda i: SHOWN.get(vocab.chars[i], vocab.chars[i])  # noqa: E731
    numbers = f"dy[{label(target)}] = {p[target]:.3f}−1 = {p[target] - 1:.3f}"
    if best != target:
        numbers += f" · top dy[{label(best)}] = {p[best]:.3f}"
    return [Term("dy", "dy = p − onehot(target)", numbers, float(p[target] - 1))]


def _dh_term(wp: WindowPass, layer: int, t: int, j: int) -> tuple[Term, np.ndarray]:
    above = wp.dhs_whole[layer][t]
    nxt = wp.dh_next(layer, t)[0]
    dh = above + nxt
    source = "Whyᵀdy" if layer + 1 == len(wp.model.cells) else f"dx(layer {layer + 1})"
    numbers = f"{_g(above[j])} + {_g(nxt[j])} = {_g(dh[j])}"
    return Term("dh", f"dh = {source} + dh_next", numbers, float(dh[j])), dh


def _best(grad: np.ndarray, candidates: list[tuple[int, ...]]) -> tuple[int, ...]:
    return max(candidates, key=lambda idx: abs(grad[idx]))


def _weight_term(name: str, label: str, h_prev: float, d: float) -> Term:
    return Term(
        name,
        f"{name} += h_prevᵀ d_raw",
        f"{label} += {h_prev:.3g}×{_g(d)} = {_g(h_prev * d)}",
        float(h_prev * d),
    )


def _rnn(wp: WindowPass, layer: int, t: int, j: int) -> tuple[list[Term], dict, tuple]:
    p = wp.model.layer_params(wp.params, layer)
    term, dh = _dh_term(wp, layer, t, j)
    h = wp.acts[layer]["h"][t]
    h_prev = wp.state_before(layer, t - 1)[0][0]
    draw = (1 - h * h) * dh
    _, k = _best(wp.grads[f"l{layer}.Whh"], [(j, k) for k in range(len(h))])
    dh_next = draw @ p["Whh"]  # Whhᵀ dh_raw, as a row
    terms = [
        term,
        Term(
            "dh_raw",
            "dh_raw = (1 − h²)⊙dh",
            f"(1 − {_sq(h[j])})×{_g(dh[j])} = {_g(draw[j])}",
            float(draw[j]),
        ),
        Term(
            "dWhh",
            "dWhh += dh_raw h_prevᵀ",
            f"dWhh[{j},{k}] += {_g(draw[j])}×{h_prev[k]:.3g} = {_g(draw[j] * h_prev[k])}",
            float(draw[j] * h_prev[k]),
        ),
        Term(
            "dh_next",
            "dh_next = Whhᵀ dh_raw",
            f"Σᵢ Whh[i,{j}] dh_raw[i] = {_g(dh_next[j])} → t−1",
            float(dh_next[j]),
        ),
    ]
    weight = ("Whh", (j, k), f"Whh[{j},{k}]", float(draw[j] * h_prev[k]))
    return terms, {"dh_next": dh_next}, weight


def _lstm_backward(wp: WindowPass, layer: int, t: int, dh: np.ndarray) -> dict[str, np.ndarray]:
    """Step t of the LSTM's backward pass as the textbook cell writes it, every unit at once."""
    v = {k: wp.acts[layer][k][t] for k in ("i", "f", "o", "g", "c")}
    v["h_prev"], v["c_prev"] = (s[0] for s in wp.state_before(layer, t - 1))
    v["dh"], v["dc_in"], v["tc"] = dh, wp.dh_next(layer, t)[1], np.tanh(v["c"])
    i, f, o, g, tc = v["i"], v["f"], v["o"], v["g"], v["tc"]
    v["do"] = dh * tc * o * (1 - o)
    v["dc"] = dc = v["dc_in"] + dh * o * (1 - tc * tc)
    v["di"], v["df"], v["dg"] = (
        dc * g * i * (1 - i),
        dc * v["c_prev"] * f * (1 - f),
        dc * i * (1 - g * g),
    )
    v["draw"] = np.concatenate([v["do"], v["di"], v["df"], v["dg"]])  # as in Wh: o, i, f, g
    v["dh_next"] = v["draw"] @ wp.model.layer_params(wp.params, layer)["Wh"].T
    v["dc_next"] = dc * f
    return v


def _lstm(wp: WindowPass, layer: int, t: int, j: int) -> tuple[list[Term], dict, tuple]:
    hid = wp.model.config.hidden
    term, dh = _dh_term(wp, layer, t, j)
    v = _lstm_backward(wp, layer, t, dh)
    candidates = [(k, b * hid + j) for k in range(hid) for b in range(4)]
    k, col = _best(wp.grads[f"l{layer}.Wh"], candidates)
    gate = "oifg"[col // hid]
    x = {name: float(a[j]) for name, a in v.items() if name != "draw"}
    rows = [
        (
            "do_raw",
            "do_raw = dh⊙tanh(c)⊙o(1−o)",
            f"{_g(x['dh'])}×{x['tc']:.3f}×{x['o']:.3f}(1−{x['o']:.3f})",
            "do",
        ),
        (
            "dc",
            "dc = dc_next + dh⊙o⊙(1−tanh²c)",
            f"{_g(x['dc_in'])} + {_g(x['dh'])}×{x['o']:.3f}×(1−{_sq(x['tc'])})",
            "dc",
        ),
        (
            "di_raw",
            "di_raw = dc⊙g⊙i(1−i)",
            f"{_g(x['dc'])}×{x['g']:.3f}×{x['i']:.3f}(1−{x['i']:.3f})",
            "di",
        ),
        (
            "df_raw",
            "df_raw = dc⊙c_prev⊙f(1−f)",
            f"{_g(x['dc'])}×{x['c_prev']:.3f}×{x['f']:.3f}(1−{x['f']:.3f})",
            "df",
        ),
        ("dg_raw", "dg_raw = dc⊙i⊙(1−g²)", f"{_g(x['dc'])}×{x['i']:.3f}×(1−{_sq(x['g'])})", "dg"),
    ]
    terms = [term] + [Term(n, eq, f"{nums} = {_g(x[key])}", x[key]) for n, eq, nums, key in rows]
    terms += [
        _weight_term("dWh", f"dWh{gate}[{k},{j}]", v["h_prev"][k], v["draw"][col]),
        Term(
            "dh_next",
            "dh_next = d_raw Whᵀ (o,i,f,g)",
            f"dh_next[{j}] = {_g(x['dh_next'])} → t−1",
            x["dh_next"],
        ),
        Term(
            "dc_next",
            "dc_next = dc⊙f",
            f"{_g(x['dc'])}×{x['f']:.3f} = {_g(x['dc_next'])} → t−1",
            x["dc_next"],
        ),
    ]
    weight = ("Wh", (k, col), f"Wh{gate}[{k},{j}]", float(v["h_prev"][k] * v["draw"][col]))
    return terms, {"dh_next": v["dh_next"], "dc_next": v["dc_next"]}, weight


def _gru(wp: WindowPass, layer: int, t: int, j: int) -> tuple[list[Term], dict, tuple]:
    p = wp.model.layer_params(wp.params, layer)
    hid = wp.model.config.hidden
    r, z, n = (wp.acts[layer][k][t] for k in ("r", "z", "n"))
    h_prev = wp.state_before(layer, t - 1)[0][0]
    hn = h_prev @ p["Wh"][:, N * hid :] + p["bhn"]  # the recurrent candidate term r scales
    term, dh = _dh_term(wp, layer, t, j)
    dn = dh * (1 - z) * (1 - n * n)
    dz = dh * (h_prev - n) * z * (1 - z)
    dr = dn * hn * r * (1 - r)
    dhn = dn * r
    draw = np.concatenate([dr, dz, dhn])  # blocks as in Wh: r, z, n
    k, col = _best(
        wp.grads[f"l{layer}.Wh"], [(k, b * hid + j) for k in range(hid) for b in range(3)]
    )
    gate = "rzn"[col // hid]
    dh_next = draw @ p["Wh"].T + dh * z
    x = {name: v[j] for name, v in dict(r=r, z=z, n=n, hn=hn, h_prev=h_prev, dh=dh, dn=dn).items()}
    terms = [
        term,
        Term(
            "dn_raw",
            "dn_raw = dh⊙(1−z)⊙(1−n²)",
            f"{_g(x['dh'])}×(1−{x['z']:.3f})×(1−{_sq(x['n'])}) = {_g(dn[j])}",
            float(dn[j]),
        ),
        Term(
            "dz_raw",
            "dz_raw = dh⊙(h_prev−n)⊙z(1−z)",
            f"{_g(x['dh'])}×({x['h_prev']:.3f}−{x['n']:.3f})×{x['z']:.3f}(1−{x['z']:.3f}) = {_g(dz[j])}",
            float(dz[j]),
        ),
        Term(
            "dr_raw",
            "dr_raw = dn_raw⊙hn⊙r(1−r)",
            f"{_g(x['dn'])}×{x['hn']:.3f}×{x['r']:.3f}(1−{x['r']:.3f}) = {_g(dr[j])}",
            float(dr[j]),
        ),
        Term("dhn", "dhn = dn_raw⊙r", f"{_g(x['dn'])}×{x['r']:.3f} = {_g(dhn[j])}", float(dhn[j])),
        _weight_term("dWh", f"dWh{gate}[{k},{j}]", h_prev[k], draw[col]),
        Term(
            "dh_next",
            "dh_next = d_raw Whᵀ + dh⊙z",
            f"dh_next[{j}] = {_g(dh_next[j])} → t−1",
            float(dh_next[j]),
        ),
    ]
    weight = ("Wh", (k, col), f"Wh{gate}[{k},{j}]", float(h_prev[k] * draw[col]))
    return terms, {"dh_next": dh_next}, weight


Family = Callable[[WindowPass, int, int, int], tuple[list[Term], dict, tuple]]
FAMILIES: dict[str, Family] = {
    "rnn": _rnn,
    "textbook-rnn": _rnn,
    "lstm": _lstm,
    "textbook-lstm": _lstm,
    "gru": _gru,
    "textbook-gru": _gru,
}


def has_terms(cell: str) -> bool:
    """Whether the chain-rule view writes this cell's backward equations out with numbers."""
    return cell in FAMILIES


def finite_difference(wp: WindowPass, param: str, index: tuple[int, ...]) -> float:
    """d L / d params[param][index] by central differences: two forward passes in float64
    from the window's start state with its dropout masks; the entry is restored after."""
    array = wp.params[param]
    old = array[index]
    losses = []
    for delta in (FD_STEP, -FD_STEP):
        array[index] = old + delta
        losses.append(wp.forward()[0].loss)
    array[index] = old
    return (losses[0] - losses[1]) / (2 * FD_STEP)


def weight_check(
    wp: WindowPass, param: str, index: tuple[int, ...], label: str, this_step: float | None
) -> WeightCheck:
    analytic = float(wp.grads[param][index])
    numeric = finite_difference(wp, param, index)
    size = max(abs(analytic), abs(numeric), FLOOR)
    return WeightCheck(
        param=param,
        index=index,
        label=label,
        this_step=this_step,
        analytic=analytic,
        numeric=numeric,
        rel_error=abs(analytic - numeric) / size,
    )


def _user_weight(wp: WindowPass, layer: int) -> tuple[str, tuple[int, ...]]:
    """A user's cell: the layer's entry with the largest gradient."""
    prefix = f"l{layer}."
    name = max(
        (k for k in wp.grads if k.startswith(prefix)), key=lambda k: np.abs(wp.grads[k]).max()
    )
    index = np.unravel_index(int(np.abs(wp.grads[name]).argmax()), wp.grads[name].shape)
    return name, tuple(int(i) for i in index)


def chain_step(wp: WindowPass, layer: int, t: int, unit: int, vocab: Vocab) -> ChainStep:
    """Step t of layer `layer`'s backward pass for `unit`: the equations with their numbers
    (built-in cells), what goes on to step t−1, and a weight entry's gradient checked."""
    cell: Cell = wp.model.cells[layer]
    family = FAMILIES.get(cell.name)
    dh = wp.handed_on(layer, t, 0)[0]
    into_prev = wp.dh_next(layer, t - 1) if t > 0 else tuple(d[0] for d in wp.carried[layer][0])
    norms = [
        ("‖dh‖", float(np.linalg.norm(dh))),
        ("‖dh_next‖ → t−1", float(np.linalg.norm(into_prev[0]))),
    ]
    if family is None:
        name, index = _user_weight(wp, layer)
        terms: list[Term] = []
        passes_on = dict(zip(("dh_next", "dc_next"), into_prev, strict=False))
        check = weight_check(wp, name, index, f"{name.split('.', 1)[1]}{list(index)}", None)
    else:
        terms, passes_on, (short, index, label, this_step) = family(wp, layer, t, unit)
        terms = _top_terms(wp, layer, t, unit, vocab) + terms
        check = weight_check(wp, f"l{layer}.{short}", index, label, this_step)
    return ChainStep(
        layer=layer,
        t=t,
        unit=unit,
        cell=cell.name,
        input=vocab.chars[int(wp.inputs[t, 0])],
        target=vocab.chars[int(wp.targets[t, 0])],
        equations=tuple(cell.equations),
        terms=terms,
        passes_on=passes_on,
        norms=norms,
        check=check,
    )
