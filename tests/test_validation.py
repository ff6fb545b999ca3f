"""Validation loss: its definition, when it runs, what it records, and that it changes nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import checkpoint
from engine.config import Config
from engine.errors import CharrnnError
from engine.evaluate import lanes_of, validation_loss
from engine.trainer import Trainer

TEXT = "".join(f"line {i}: the cat sat on the mat, {i * 7 % 13} times.\n" for i in range(60))
CONFIG = Config(
    hidden=10, seq_length=8, batch=4, loss="mean", optimizer="adam", lr=0.01, val_fraction=0.2
)


def test_lanes_predict_every_held_out_character_once() -> None:
    ids = np.arange(103)
    inputs, targets = lanes_of(ids, lanes=4)
    assert inputs.shape == targets.shape == (25, 4)
    assert sorted(targets.reshape(-1)) == list(range(1, 101))  # 101, 102 do not fill a lane
    np.testing.assert_array_equal(targets[:-1], inputs[1:])  # each lane reads on contiguously
    assert lanes_of(np.arange(3), lanes=16)[0].shape == (1, 2)  # fewer lanes than asked


def test_lanes_need_two_characters() -> None:
    with pytest.raises(CharrnnError, match="at least 2"):
        lanes_of(np.arange(1))


def direct_mean_nats(trainer: Trainer, lanes: int) -> float:
    """Each lane read alone (B=1) in one window from a zero state by the training forward."""
    inputs, targets = lanes_of(trainer.val_ids, lanes)
    total = 0.0
    for j in range(inputs.shape[1]):
        fwd, _ = trainer.model.forward(
            trainer.params, inputs[:, j : j + 1], targets[:, j : j + 1], trainer.model.zero_state(1)
        )
        total += fwd.nats_per_char * len(targets)
    return total / targets.size


@pytest.mark.parametrize(
    "model",
    [{}, {"cell": "lstm", "layers": 2, "dropout": 0.5}, {"cell": "gru", "embedding": 4}],
    ids=["rnn", "lstm-dropout", "gru-embedding"],
)
def test_evaluate_equals_direct_mean_nats_per_character(model: dict) -> None:
    trainer = Trainer(CONFIG.replace(**model), TEXT)
    trainer.train(20)
    rng_state = trainer.rng.bit_generator.state
    value = trainer.evaluate()
    assert trainer.rng.bit_generator.state == rng_state  # no dropout masks drawn
    assert trainer.evaluate() == value
    assert value == pytest.approx(direct_mean_nats(trainer, 16), rel=1e-10)
    assert 0 < value < math.log(len(trainer.vocab)) + 1
    # chunking the lanes into windows changes nothing: the state is carried between chunks
    assert validation_loss(trainer.model, trainer.params, trainer.val_ids, chunk=3) == (
        pytest.approx(value, rel=1e-12)
    )


def test_evaluate_in_float32_matches_float64_closely() -> None:
    t64 = Trainer(CONFIG, TEXT)
    t32 = Trainer(CONFIG.replace(dtype="float32"), TEXT)
    assert t32.evaluate() == pytest.approx(t64.evaluate(), rel=1e-5)


def test_evaluate_touches_no_training_state() -> None:
    plain = Trainer(CONFIG, TEXT, seed=1)
    plain.train(12)
    evaluated = Trainer(CONFIG.replace(eval_every=3), TEXT, seed=1)
    evaluated.train(12)
    for k, v in plain.params.items():
        assert np.array_equal(evaluated.params[k], v)
    assert plain.rng.bit_generator.state == evaluated.rng.bit_generator.state
    assert evaluated.stream.position == plain.stream.position


def test_eval_every_records_history_best_and_last() -> None:
    trainer = Trainer(CONFIG.replace(eval_every=5), TEXT)
    results = trainer.train(11)
    evaluated = [r for r in results if r.val_loss is not None]
    assert [r.iteration for r in evaluated] == [0, 5, 10]
    assert [n for n, _ in trainer.val_history] == [0, 5, 10]
    assert trainer.last_val_loss == trainer.val_history[-1][1] == evaluated[-1].val_loss
    assert trainer.best_val_loss == min(v for _, v in trainer.val_history)
    best = math.inf
    for r in evaluated:
        assert r.val_best == (r.val_loss < best)
        best = min(best, r.val_loss)
    assert all(r.eval_seconds > 0 for r in evaluated)
    assert trainer.val_history[-1][1] == pytest.approx(trainer.evaluate())


def test_no_split_means_no_evaluation() -> None:
    trainer = Trainer(Config(hidden=8, seq_length=5, eval_every=1), TEXT)
    assert trainer.step().val_loss is None
    assert trainer.last_val_loss is None and trainer.best_val_loss is None
    with pytest.raises(CharrnnError, match="val_fraction is 0"):
        trainer.evaluate()


def test_a_split_too_small_to_evaluate_is_refused() -> None:
    with pytest.raises(CharrnnError, match="validation needs at least 2"):
        Trainer(Config(hidden=8, seq_length=5, val_fraction=0.001), TEXT[:300])


def test_checkpoint_keeps_validation_history(tmp_path) -> None:
    trainer = Trainer(CONFIG.replace(eval_every=4), TEXT)
    trainer.train(9)
    path = checkpoint.save(trainer, tmp_path / "v.npz")
    resumed = checkpoint.restore(checkpoint.load(path), TEXT, "corpus")
    assert resumed.val_history == trainer.val_history
    assert resumed.best_val_loss == trainer.best_val_loss
