"""The classic preset is min-char-rnn: checked against a plain one-hot re-statement."""

from __future__ import annotations

import numpy as np
import pytest

import corpora
from engine.config import preset
from engine.model import CharModel
from engine.optim import clip_elementwise
from engine.trainer import Trainer

import minchar_reference as ref


@pytest.fixture(scope="module")
def shakespeare() -> str:
    # The whole text, so the vocabulary (65) and so the initial weights are min-char-rnn's own.
    return corpora.load("tinyshakespeare")[1]


def reference_weights(trainer: Trainer) -> list[np.ndarray]:
    """The engine's initial weights in min-char-rnn's shapes (biases are column vectors)."""
    p = trainer.params
    return [
        p["l0.Wxh"].copy(),
        p["l0.Whh"].copy(),
        p["Why"].copy(),
        p["l0.bh"][:, None].copy(),
        p["by"][:, None].copy(),
    ]


def test_one_step_loss_and_every_gradient_agree(shakespeare: str) -> None:
    trainer = Trainer(preset("classic"), shakespeare, seed=5)
    model: CharModel = trainer.model
    rs = np.random.RandomState(9)
    # Non-trivial weights and hidden state, so every term of backprop matters.
    for p in trainer.params.values():
        p[...] = rs.randn(*p.shape) * 0.1
    hprev = rs.randn(100, 1) * 0.5
    ids = trainer.train_ids[:26]
    inputs, targets = ids[:-1], ids[1:]

    fwd, grads, state = model.loss_and_grads(
        trainer.params, inputs[:, None], targets[:, None], [(hprev.T.copy(),)]
    )
    clip_elementwise(grads, 5.0)
    loss, dWxh, dWhh, dWhy, dbh, dby, hlast = ref.loss_fun(
        list(inputs), list(targets), hprev, *reference_weights(trainer)
    )

    assert fwd.loss == pytest.approx(loss, rel=1e-9)
    expected = {"l0.Wxh": dWxh, "l0.Whh": dWhh, "Why": dWhy, "l0.bh": dbh[:, 0], "by": dby[:, 0]}
    for name, want in expected.items():
        np.testing.assert_allclose(grads[name], want, rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(state[0][0][0], hlast[:, 0], rtol=1e-9)


def test_same_seed_same_losses_for_a_hundred_iterations(shakespeare: str) -> None:
    trainer = Trainer(preset("classic"), shakespeare, seed=0)
    weights = reference_weights(trainer)
    ours = [trainer.step() for _ in range(100)]
    theirs = list(ref.train(list(trainer.train_ids), len(trainer.vocab), weights, 100))

    losses = np.array([r.loss for r in ours])
    want = np.array([loss for _, loss, _ in theirs])
    np.testing.assert_allclose(losses[:30], want[:30], rtol=1e-9)
    np.testing.assert_allclose(losses, want, rtol=1e-6)
    np.testing.assert_allclose([r.smooth_loss for r in ours], [s for _, _, s in theirs], rtol=1e-6)
    assert [r.iteration for r in ours] == [n for n, _, _ in theirs]


def test_wrapping_matches_min_char_rnn_pointer() -> None:
    """A corpus shorter than a few windows wraps (and resets the state) exactly as the original."""
    text = "hello world, hello charrnn!\n" * 3  # 84 chars: wraps every 3 windows
    trainer = Trainer(preset("classic").replace(hidden=20), text, seed=1)
    weights = reference_weights(trainer)
    ours = [trainer.step() for _ in range(12)]
    theirs = list(ref.train(list(trainer.train_ids), len(trainer.vocab), weights, 12, hidden=20))
    np.testing.assert_allclose([r.loss for r in ours], [t[1] for t in theirs], rtol=1e-9)
    assert [r.reset for r in ours] == [n % 3 == 0 for n in range(12)]


def test_later_statistics_agree_over_seeds(shakespeare: str) -> None:
    """Past ~100 iterations two BLAS kernels drift apart chaotically; the statistics must not."""
    iters = 300
    ours, theirs = [], []
    for seed in (0, 1, 2):
        trainer = Trainer(preset("classic"), shakespeare, seed=seed)
        weights = reference_weights(trainer)
        ours += [r.loss for r in trainer.train(iters)][200:]
        ref_run = ref.train(list(trainer.train_ids), len(trainer.vocab), weights, iters)
        theirs += [loss for _, loss, _ in ref_run][200:]
    assert np.mean(ours) == pytest.approx(np.mean(theirs), rel=0.01)
    # And learning happened: clearly below the uniform guess of ln(65) * 25 = 104.4.
    assert np.mean(ours) < 95
