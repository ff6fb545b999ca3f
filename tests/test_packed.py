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


def replace_by(params: dict[str, np.ndarray]) -> None:
    params["by"] = np.zeros_like(params["by"])


def delete_by(params: dict[str, np.ndarray]) -> None:
    del params["by"]


def update_by(params: dict[str, np.ndarray]) -> None:
    params.update(by=np.zeros_like(params["by"]))


def merge_by(params: dict[str, np.ndarray]) -> None:
    params |= {"by": np.zeros_like(params["by"])}


# Every way a dict can lose or swap an entry: each would leave the model reading an array
# that the optimiser (which updates the packed buffer) no longer touches, or none at all.
CHANGES = {
    "params[name] = array": replace_by,
    "del params[name]": delete_by,
    "params.update(...)": update_by,
    "params |= {...}": merge_by,
    "params.setdefault(...)": lambda p: p.setdefault("extra", np.zeros(1)),
    "params.pop(name)": lambda p: p.pop("by"),
    "params.popitem()": lambda p: p.popitem(),
    "params.clear()": lambda p: p.clear(),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_replacing_a_packed_array_is_refused_and_training_still_updates_what_it_reads(
    change,
) -> None:
    trainer = Trainer(Config(cell="gru", hidden=8, seq_length=5, optimizer="adam"), TEXT)
    names = list(trainer.params)
    with pytest.raises(TypeError, match=r"write into the array in place"):
        change(trainer.params)
    assert list(trainer.params) == names
    for name, view in trainer.params.items():
        assert np.shares_memory(view, trainer.params.buffer), name
    before = trainer.params.buffer.copy()
    trainer.train(1)
    # the optimiser moved the buffer, and the arrays the model reads are that buffer
    assert not np.array_equal(trainer.params.buffer, before)
    read = np.concatenate([view.ravel() for view in trainer.params.values()])
    assert np.array_equal(read, trainer.params.buffer)


def test_writing_into_a_packed_array_in_place_reaches_the_buffer() -> None:
    params = packed.packed({k: np.ones(s) for k, s in SHAPES.items()})
    params["b"][...] = 7
    params["W"] *= 3  # in place: Python stores the same view back
    assert (params.buffer == 7).sum() == 5 and (params.buffer == 3).sum() == 15
    assert np.shares_memory(params["W"], params.buffer)
    with pytest.raises(TypeError, match="in place"):
        params["W"] = params["W"] * 3  # a new array, not the view


def test_a_shallow_copy_shares_the_buffer_and_a_pickle_round_trip_stays_packed() -> None:
    import pickle

    params = packed.packed({k: np.ones(s) for k, s in SHAPES.items()})
    same = copy.copy(params)
    same["W"][...] = 2
    assert (params["W"] == 2).all() and same.buffer is params.buffer
    again = pickle.loads(pickle.dumps(params))
    assert packed.buffers(again) is not None and np.array_equal(again.buffer, params.buffer)
    again["W"][...] = 3
    assert (params["W"] == 2).all() and (again.buffer == 3).sum() == 15
