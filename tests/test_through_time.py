"""Backpropagation through time, measured (engine/through_time.py) and written out step by step
(engine/chain_rule.py): the gradient reaching each step against finite differences, the
geometric decay a hand-built RNN's weights predict, the chain rule's numbers against the
engine's own gradients, and the weight check's central difference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import corpora
from engine.cells import CELL_TYPES
from engine.cells.user import load_cell_file
from engine.chain_rule import chain_step, has_terms
from engine.config import Config, preset
from engine.model import CharModel
from engine.through_time import WindowPass, horizon
from engine.trainer import Trainer
from engine.vocab import Vocab
from engine.window import Replay, next_window

VOCAB = Vocab(list("abcdefg"))
EPS = 1e-6
MGU = Path(__file__).parent / "fixtures" / "cells" / "mgu.py"


@pytest.fixture
def user_cell():
    """The fixture's minimal gated unit, registered for the test and forgotten after."""
    before = dict(CELL_TYPES)
    yield load_cell_file(str(MGU)).cls
    CELL_TYPES.clear()
    CELL_TYPES.update(before)


def random_window(config: Config, steps: int = 7, seed: int = 0) -> Replay:
    """A tiny float64 model with large random weights and a non-zero start state, so that
    every path through time carries a gradient well above rounding."""
    model = CharModel(config.replace(dtype="float64", init_scale=0.4), len(VOCAB))
    params = dict(model.init_params(seed))
    rs = np.random.RandomState(seed + 1)
    for name in params:
        if name.endswith(("b", "bh", "bhn", "by")):
            params[name] = rs.randn(*params[name].shape) * 0.3
    state = [
        tuple(rs.randn(1, config.hidden) * 0.5 for _ in layer) for layer in model.zero_state(1)
    ]
    return Replay(
        params=params,
        inputs=rs.randint(len(VOCAB), size=(steps, 1)),
        targets=rs.randint(len(VOCAB), size=(steps, 1)),
        state=state,
        masks=[None] * config.layers,
    )


def losses_after(wp: WindowPass, t: int, layer: int, state: tuple) -> np.ndarray:
    """The window's per-step losses from step t on, when layer `layer` hands on `state` from
    step t (its h_t also being its output at t) and everything else is as it was: the
    network run again by its cells from there, one layer after another."""
    model, out = wp.model, None
    for i, cell in enumerate(model.cells):
        p = model.layer_params(wp.params, i)
        if i < layer:
            continue
        first = max(t, 0)  # the first step whose outputs change (t = −1: the start state)
        if i == layer:
            rest = wp.layer_inputs[i][t + 1 :]
            later = [cell.forward(p, rest, state)[0]] if len(rest) else []
            out = np.concatenate(([state[0][None]] if t >= 0 else []) + later)
        else:
            mask = wp.masks[i]
            x = out if mask is None else out * mask[first:]
            out = cell.forward(p, x, wp.state_before(i, first - 1))[0]
    logits = out[:, 0] @ wp.params["Why"].T + wp.params["by"]
    logits -= logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(logp)), wp.targets[max(t, 0) :, 0]]


def numeric_state_gradient(wp: WindowPass, t: int, layer: int, which: str) -> tuple:
    """d loss / d each array of the state layer `layer` hands on from step t, by central
    differences: `which` is "whole" (the window's loss from t on) or "last"."""
    state = tuple(a.copy() for a in wp.state_before(layer, t))
    grads = []
    for a in state:
        g = np.zeros_like(a)
        for j in range(a.size):
            old = a.flat[j]
            values = []
            for delta in (EPS, -EPS):
                a.flat[j] = old + delta
                losses = losses_after(wp, t, layer, state)
                values.append(losses.sum() if which == "whole" else losses[-1])
            a.flat[j] = old
            g.flat[j] = (values[0] - values[1]) / (2 * EPS)
        grads.append(g[0])
    return tuple(grads)


CELLS = [
    Config(cell="rnn", hidden=5, seq_length=7),
    Config(cell="lstm", hidden=4, seq_length=7),
    Config(cell="gru", hidden=4, seq_length=7, embedding=3),
    Config(cell="lstm", hidden=3, seq_length=7, layers=2),
]


@pytest.mark.parametrize("config", CELLS, ids=["rnn", "lstm", "gru", "lstm-2-layers"])
def test_the_gradient_reaching_each_step_matches_finite_differences(config: Config) -> None:
    wp = WindowPass(config, len(VOCAB), random_window(config), 0)
    flow = wp.flow(0, VOCAB)
    for layer, lf in enumerate(flow.layers):
        for t in range(wp.steps):
            whole = numeric_state_gradient(wp, t, layer, "whole")
            # ‖∂L/∂h_t‖: h_t's share of the window's loss, its own output's and later steps'
            assert lf.grad_h[t] == pytest.approx(np.linalg.norm(whole[0]), rel=1e-6)
            last = numeric_state_gradient(wp, t, layer, "last")
            size = np.sqrt(sum(np.vdot(g, g) for g in last))
            assert lf.last[t + 1] == pytest.approx(size, rel=1e-6)
            for name, g in zip(lf.state_names, last, strict=True):
                assert lf.last_parts[name][t + 1] == pytest.approx(np.linalg.norm(g), rel=1e-6)
        # the state the window started from: only later steps reach it
        start = numeric_state_gradient(wp, -1, layer, "last")
        size = np.sqrt(sum(np.vdot(g, g) for g in start))
        assert lf.last[0] == pytest.approx(size, rel=1e-6)


def hand_built_rnn(scale: float, steps: int = 30, input_scale: float = 1e-7) -> WindowPass:
    """A vanilla RNN whose Whh is `scale` times an orthogonal matrix (every singular value is
    `scale`) and whose inputs barely move h from 0 (even 1.3³⁰ × 1e-7 is small), so
    tanh' = 1 − h² is 1 to within 1e-6:
    Whhᵀ·diag(1 − h²) then shrinks (or stretches) every gradient by `scale` per step."""
    config = Config(cell="rnn", hidden=6, seq_length=steps)
    replay = random_window(config, steps=steps)
    q, _ = np.linalg.qr(np.random.RandomState(3).randn(6, 6))
    params = dict(replay.params)
    params["l0.Whh"] = scale * q
    params["l0.Wxh"] = params["l0.Wxh"] * input_scale
    params["l0.bh"] = np.zeros(6)
    start = [(np.zeros((1, 6)),)]
    replay = Replay(params, replay.inputs, replay.targets, start, replay.masks)
    return WindowPass(config, len(VOCAB), replay, 0)


@pytest.mark.parametrize("scale", [0.5, 0.8, 1.3])
def test_a_hand_built_rnn_decays_geometrically_at_the_rate_its_weights_predict(scale) -> None:
    lf = hand_built_rnn(scale).flow(0, VOCAB).layers[0]
    assert lf.analytic == pytest.approx(np.full(30, scale), rel=1e-5)
    assert lf.factor == pytest.approx(np.full(30, scale), rel=1e-5)
    steps_back = np.arange(30, -1, -1)  # relative[0] is 30 steps back (the start state)
    assert lf.relative == pytest.approx(scale**steps_back, rel=1e-4)
    expected = 30 if scale >= 1 else int(np.floor(np.log(0.01) / np.log(scale)))
    assert lf.horizon == expected


def test_the_horizon_counts_steps_back_above_one_percent() -> None:
    assert horizon(np.array([0.001, 0.02, 0.5, 1.0])) == 2
    assert horizon(np.array([0.02, 0.005, 0.5, 1.0])) == 1  # the first fall below ends it
    assert horizon(np.array([0.2, 0.5, 1.0])) == 2  # into the start state
    assert horizon(np.array([1.0])) == 0


CHAIN_CELLS = [
    Config(cell="rnn", hidden=5, seq_length=6),
    Config(cell="textbook-rnn", hidden=5, seq_length=6),
    Config(cell="lstm", hidden=4, seq_length=6, layers=2),
    Config(cell="textbook-lstm", hidden=4, seq_length=6),
    Config(cell="gru", hidden=4, seq_length=6, layers=2, embedding=3),
    Config(cell="textbook-gru", hidden=4, seq_length=6),
]


@pytest.mark.parametrize("config", CHAIN_CELLS, ids=lambda c: f"{c.cell}-{c.layers}")
def test_the_chain_rules_numbers_equal_the_engines_gradients(config: Config) -> None:
    assert has_terms(config.cell)
    wp = WindowPass(config, len(VOCAB), random_window(config, steps=6), 0)
    for layer in range(config.layers):
        for unit in range(config.hidden):
            this_steps = []
            for t in range(wp.steps):
                step = chain_step(wp, layer, t, unit, VOCAB)
                terms = {term.name: term.value for term in step.terms}
                # what reaches h_t: the engine's, from the output (or layer above) and t + 1
                assert terms["dh"] == pytest.approx(wp.handed_on(layer, t, 0)[0][unit])
                # what the step's equations send on to t − 1 is what the cells' backward did
                engine = (
                    wp.dh_next(layer, t - 1) if t else tuple(d[0] for d in wp.carried[layer][0])
                )
                for got, want in zip(step.passes_on.values(), engine, strict=True):
                    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-13)
                assert terms["dh_next"] == pytest.approx(engine[0][unit], rel=1e-9, abs=1e-13)
                this_steps.append(step.check.this_step)
            # the weight entry's per-step terms add up to the engine's gradient
            assert sum(this_steps) == pytest.approx(step.check.analytic, rel=1e-9, abs=1e-13)


def test_dy_is_p_minus_onehot_at_the_target() -> None:
    config = Config(cell="rnn", hidden=5, seq_length=6)
    wp = WindowPass(config, len(VOCAB), random_window(config, steps=6), 0)
    step = chain_step(wp, 0, 2, 1, VOCAB)
    dy = next(t for t in step.terms if t.name == "dy")
    target = int(wp.targets[2, 0])
    assert dy.value == pytest.approx(wp.probs[2, target] - 1)
    assert f"dy[{VOCAB.chars[target]}] = {wp.probs[2, target]:.3f}−1" in dy.numbers


@pytest.mark.parametrize("config", CHAIN_CELLS, ids=lambda c: f"{c.cell}-{c.layers}")
def test_the_finite_difference_agrees_with_the_analytic_gradient(config: Config) -> None:
    wp = WindowPass(config, len(VOCAB), random_window(config, steps=6), 0)
    for t in (0, 5):
        check = chain_step(wp, 0, t, 2, VOCAB).check
        assert check.rel_error < 1e-5
        assert check.numeric == pytest.approx(check.analytic, rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("name", ["classic", "long"])
def test_the_weight_check_holds_for_a_trained_preset_float32_and_dropout_too(name) -> None:
    """The long preset trains in float32 with dropout between two layers and a minibatch split
    across threads: the check replays the window in float64 with the step's own masks."""
    _, text = corpora.load("alice")
    config = preset(name).replace(
        hidden=24, seq_length=12, batch=8, workers=2 if name == "long" else 0
    )
    trainer = Trainer(config, text[:20_000], corpus_name="alice")
    trainer.train(5)
    record = next_window(trainer)
    for column in range(len(record.window.streams)):
        wp = WindowPass(config, len(trainer.vocab), record.replay, column)
        for layer in range(config.layers):
            step = chain_step(wp, layer, config.seq_length - 3, 5, trainer.vocab)
            assert step.check.rel_error < 1e-5, step.check


def test_a_users_cell_gets_its_equations_and_the_weight_check(user_cell) -> None:
    config = Config(cell=user_cell.name, hidden=4, seq_length=6)
    wp = WindowPass(config, len(VOCAB), random_window(config, steps=6), 0)
    step = chain_step(wp, 0, 3, 1, VOCAB)
    assert not has_terms(user_cell.name) and step.terms == []
    assert step.equations == tuple(user_cell.equations)
    assert step.check.this_step is None and step.check.rel_error < 1e-5
    engine = wp.dh_next(0, 2)
    np.testing.assert_array_equal(step.passes_on["dh_next"], engine[0])
