"""Weights, gradients and optimiser state packed in one buffer each (engine/packed.py): the
whole-model update gives exactly the per-array result, and copies stay packed."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from engine import packed
from engine.config import Config
from engine.optim import clip_elementwise, make_optimizer
from engine.trainer import Trainer

TEXT = "".join(f"{i} green bottles hanging on the wall, and {i % 4} fell.\n" for i in range(50))
SHAPES = {"W": (5, 3), "b": (5,), "E": (7, 2)}


@pytest.mark.parametrize("optimizer", ["adagrad", "adagrad-torch", "adam"])
def test_the_packed_update_is_bit_for_bit_the_per_array_update(optimizer: str) -> None:
    config = Config(optimizer=optimizer, lr=0.05)
    draw = np.random.default_rng(1)
    params = {k: draw.normal(size=s) for k, s in SHAPES.items()}
    flat_params, plain_params = packed.packed(params), copy.deepcopy(params)
    flat_opt, plain_opt = make_optimizer(config, flat_params), make_optimizer(config, plain_params)
    for _ in range(4):
        grads = {k: draw.normal(size=s) * 3 for k, s in SHAPES.items()}
        flat_grads = packed.packed(grads)
        clip_elementwise(flat_grads, 2.0)
        clip_elementwise(grads, 2.0)
        flat_opt.update(flat_params, flat_grads)
        plain_opt.update(plain_params, grads)
    assert packed.buffers(flat_params, flat_grads) is not None  # the whole-model path ran
    for name in SHAPES:
        np.testing.assert_array_equal(flat_params[name], plain_params[name])
    for name, value in plain_opt.state.items():
        np.testing.assert_array_equal(flat_opt.state[name], value)


@pytest.mark.parametrize("optimizer", ["adagrad", "adam"])
def test_a_deep_copied_trainer_trains_exactly_as_the_original(optimizer: str) -> None:
    trainer = Trainer(Config(cell="gru", hidden=8, seq_length=5, optimizer=optimizer), TEXT)
    trainer.train(3)
    twin = copy.deepcopy(trainer)
    assert [r.loss for r in twin.train(4)] == [r.loss for r in trainer.train(4)]
    for name, value in trainer.params.items():
        np.testing.assert_array_equal(twin.params[name], value)
    for name, value in trainer.optimizer.state.items():
        np.testing.assert_array_equal(twin.optimizer.state[name], value)
    # The copy's arrays are views of its own buffer, not of the original's.
    some = next(iter(twin.params))
    twin.params.buffer[...] = 0
    assert not twin.params[some].any() and trainer.params[some].any()


def test_mixed_dtypes_are_refused() -> None:
    with pytest.raises(ValueError, match="one dtype"):
        packed.packed({"a": np.zeros(2, np.float32), "b": np.zeros(2, np.float64)})
