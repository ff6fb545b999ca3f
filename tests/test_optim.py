"""Optimisers against hand-written references, clipping, the trainer's rate, and exact resume."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import checkpoint
from engine.config import CELLS, OPTIMIZERS, Config
from engine.optim import (
    Adagrad,
    Adam,
    clip_global_norm,
    global_norm,
    make_optimizer,
)
from engine.trainer import Trainer

TEXT = "the quick brown fox jumps over the lazy dog. " * 40


def _params_and_grads(steps: int, seed: int = 0) -> tuple[dict, list[dict]]:
    rs = np.random.RandomState(seed)
    params = {"W": rs.randn(3, 4), "b": rs.randn(4)}
    grads = [{k: rs.randn(*v.shape) for k, v in params.items()} for _ in range(steps)]
    return params, grads


def test_adam_matches_a_scalar_reference_for_several_steps() -> None:
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    params, grads = _params_and_grads(5)
    expected = {k: v.copy() for k, v in params.items()}
    opt = Adam(params, lr, b1, b2)
    for name, start in expected.items():
        flat = start.reshape(-1)
        for i in range(flat.size):  # one scalar at a time, straight from the algorithm
            p, m, v = float(flat[i]), 0.0, 0.0
            for t, g_all in enumerate(grads, start=1):
                g = float(g_all[name].reshape(-1)[i])
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                # PyTorch's arrangement (eps added after bias-correcting sqrt(v))
                p -= lr / (1 - b1**t) * m / (math.sqrt(v) / math.sqrt(1 - b2**t) + eps)
            flat[i] = p
    for g in grads:
        opt.update(params, g)
    assert int(opt.state["step"]) == 5
    for name in params:
        np.testing.assert_allclose(params[name], expected[name], rtol=1e-12, atol=1e-14)


def test_adam_first_step_moves_every_weight_by_lr() -> None:
    # Bias correction makes the first step lr * g / (|g| + eps): magnitude lr, sign of -g.
    params, grads = _params_and_grads(1)
    before = {k: v.copy() for k, v in params.items()}
    Adam(params, 0.05).update(params, grads[0])
    for name in params:
        step = before[name] - params[name]
        np.testing.assert_allclose(step, 0.05 * np.sign(grads[0][name]), rtol=1e-5)


def test_adagrad_keeps_min_char_rnn_formula_and_torch_form_differs_only_in_eps() -> None:
    params, grads = _params_and_grads(3)
    mine, torch_form = (
        {k: v.copy() for k, v in params.items()},
        {k: v.copy() for k, v in params.items()},
    )
    ref_mem = {k: np.zeros_like(v) for k, v in params.items()}
    ref_t = {k: v.copy() for k, v in params.items()}
    ref_mem_t = {k: np.zeros_like(v) for k, v in params.items()}
    a, b = Adagrad(mine, 0.1), Adagrad(torch_form, 0.1, eps_inside=False)
    for g in grads:
        a.update(mine, g)
        b.update(torch_form, g)
        for k in params:
            ref_mem[k] += g[k] * g[k]
            params[k] += -0.1 * g[k] / np.sqrt(ref_mem[k] + 1e-8)  # min-char-rnn's line
            ref_mem_t[k] += g[k] * g[k]
            ref_t[k] -= 0.1 * g[k] / (np.sqrt(ref_mem_t[k]) + 1e-10)
    for k in params:
        assert np.array_equal(mine[k], params[k])
        np.testing.assert_allclose(torch_form[k], ref_t[k], rtol=1e-14)


def test_make_optimizer_names() -> None:
    params, _ = _params_and_grads(0)
    for name in OPTIMIZERS:
        assert make_optimizer(Config(optimizer=name, lr=0.01), params).name == name


def test_global_norm_clipping_scales_all_gradients_together() -> None:
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0], [4.0]])}  # joint norm 5
    norm = clip_global_norm(grads, 1.0)
    assert norm == pytest.approx(5.0)
    assert global_norm(grads) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(grads["a"], [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(grads["b"], [[0.0], [0.8]], rtol=1e-5)


def test_global_norm_clipping_leaves_small_gradients_and_zero_disables() -> None:
    grads = {"a": np.array([0.3, 0.4], dtype=np.float32)}
    clip_global_norm(grads, 1.0)
    np.testing.assert_array_equal(grads["a"], np.array([0.3, 0.4], dtype=np.float32))
    big = {"a": np.array([30.0, 40.0])}
    assert clip_global_norm(big, 0.0) == pytest.approx(50.0)
    np.testing.assert_array_equal(big["a"], [30.0, 40.0])


def test_global_norm_clipping_keeps_float32() -> None:
    grads = {"a": np.full(4, 10.0, dtype=np.float32)}
    clip_global_norm(grads, 2.0)
    assert grads["a"].dtype == np.float32
    assert global_norm(grads) == pytest.approx(2.0, rel=1e-5)


def test_trainer_applies_the_schedule_and_reports_it() -> None:
    c = Config(hidden=8, seq_length=5, lr=0.1, lr_decay=0.5, lr_decay_every=2)
    trainer = Trainer(c, TEXT)
    lrs = [trainer.step().lr for _ in range(5)]
    assert lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_trainer_with_clip_norm_trains_and_keeps_gradients_bounded() -> None:
    c = Config(hidden=8, seq_length=5, batch=2, loss="mean", clip=0, clip_norm=0.5)
    trainer = Trainer(c, TEXT)
    before = {k: v.copy() for k, v in trainer.params.items()}
    trainer.train(3)
    assert any(not np.array_equal(before[k], v) for k, v in trainer.params.items())


# Exercise stacking, dropout (its masks come from the checkpointed rng) and embeddings too.
RESUME_EXTRAS = {"lstm": {"layers": 2, "dropout": 0.2}, "gru": {"embedding": 5}}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("cell", CELLS)
def test_resume_is_bit_exact_for_every_cell_and_optimizer(
    cell: str, optimizer: str, tmp_path
) -> None:
    c = Config(
        cell=cell,
        **RESUME_EXTRAS.get(cell, {}),
        hidden=12,
        seq_length=6,
        batch=3,
        dtype="float32",
        loss="mean",
        optimizer=optimizer,
        lr=0.01,
        clip_norm=1.0,
        lr_decay=0.9,
        lr_decay_every=3,
        val_fraction=0.1,
        eval_every=4,
    )
    straight = Trainer(c, TEXT, seed=3)
    straight.train(17)

    first = Trainer(c, TEXT, seed=3)
    first.train(9)
    path = checkpoint.save(first, tmp_path / "mid.npz")
    resumed = checkpoint.restore(checkpoint.load(path), TEXT, "corpus")
    assert resumed.val_history == first.val_history
    for k, v in first.optimizer.state.items():
        assert np.array_equal(resumed.optimizer.state[k], v), k
    resumed.train(8)

    for k, v in straight.params.items():
        assert np.array_equal(resumed.params[k], v), k
    for k, v in straight.optimizer.state.items():
        assert np.array_equal(resumed.optimizer.state[k], v), k
    assert resumed.val_history == straight.val_history
    assert resumed.smooth_loss == straight.smooth_loss
    assert resumed.rng.bit_generator.state == straight.rng.bit_generator.state


def test_classic_still_follows_min_char_rnn_step_for_step() -> None:
    from tests.minchar_reference import train as reference_train

    trainer = Trainer(Config(), TEXT)
    p = trainer.params
    weights = (p["l0.Wxh"], p["l0.Whh"], p["Why"], p["l0.bh"][:, None], p["by"][:, None])
    ids = list(trainer.train_ids)
    expected = [loss for _, loss, _ in reference_train(ids, len(trainer.vocab), weights, 20)]
    got = [r.loss for r in trainer.train(20)]
    np.testing.assert_allclose(got, expected, rtol=1e-9)
