"""State dictionaries: a trainer, its optimiser and its data stream, without any file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.config import Config
from engine.data import BatchStream
from engine.errors import CharrnnError
from engine.optim import make_optimizer
from engine.trainer import Trainer

TEXT = "".join(f"row {i}: a quick brown fox, {i * 5 % 11} jumps.\n" for i in range(40))
ADAM = Config(cell="gru", hidden=8, seq_length=6, batch=2, optimizer="adam", lr=0.01)


def test_a_state_dict_continues_a_run_exactly() -> None:
    straight = Trainer(ADAM.replace(val_fraction=0.2, eval_every=4), TEXT, seed=4)
    straight.train(9)
    copy = Trainer(ADAM.replace(val_fraction=0.2, eval_every=4), TEXT, seed=4)
    copy.load_state_dict(straight.state_dict())  # a dictionary in memory, no file involved
    assert [r.loss for r in copy.train(7)] == [r.loss for r in straight.train(7)]
    assert copy.val_history == straight.val_history
    assert list(copy.loss_history) == list(straight.loss_history)


def test_a_state_dict_is_plain_arrays_and_json_values() -> None:
    trainer = Trainer(ADAM, TEXT)
    trainer.train(3)
    d = trainer.state_dict()
    arrays = ("params", "optimizer", "state", "loss_history", "val_history")
    json.dumps({k: v for k, v in d.items() if k not in arrays})  # raises if not JSON-able
    assert all(isinstance(a, np.ndarray) for a in d["params"].values())
    assert all(isinstance(a, np.ndarray) for a in d["optimizer"].values())
    assert all(isinstance(a, np.ndarray) for layer in d["state"] for a in layer)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Why": np.zeros((3, 8))}, r"params Why has shape \(3, 8\)"),
        ({"by": "not an array"}, "params by is not an array"),
        ("float32", "params Why is float32, the model needs float64"),
    ],
    ids=["shape", "not-an-array", "dtype"],
)
def test_load_state_dict_refuses_a_mismatched_array_and_copies_nothing(
    change, message: str
) -> None:
    source = Trainer(ADAM, TEXT, seed=1)
    source.train(2)
    d = source.state_dict()
    if change == "float32":
        change = {"Why": d["params"]["Why"].astype(np.float32)}
    d["params"] = {**d["params"], **change}
    target = Trainer(ADAM, TEXT, seed=2)
    before = {k: v.copy() for k, v in target.params.items()}
    with pytest.raises(CharrnnError, match=message):
        target.load_state_dict(d)
    for name, value in before.items():
        assert np.array_equal(target.params[name], value), name


def test_an_optimizer_state_dict_round_trips() -> None:
    params = {"w": np.ones((2, 3))}
    first = make_optimizer(ADAM, params)
    first.update(params, {"w": np.full((2, 3), 0.5)})
    second = make_optimizer(ADAM, {"w": np.ones((2, 3))})
    second.load_state_dict(first.state_dict())
    assert int(second.state["step"]) == 1
    assert np.array_equal(second.state["m.w"], first.state["m.w"])
    with pytest.raises(CharrnnError, match=r"optimizer state lack m\.w"):
        second.load_state_dict({"step": np.zeros((), np.int64)})


def test_next_input_is_the_character_after_lane_0s_last_window() -> None:
    stream = BatchStream(np.arange(100), batch=2, seq_length=4)
    assert stream.next_input() == 0
    _, targets, _ = stream.next_window()
    assert stream.next_input() == targets[-1, 0] == 4


def test_a_stream_cursor_outside_the_lane_is_refused() -> None:
    stream = BatchStream(np.arange(100), batch=2, seq_length=4)
    with pytest.raises(CharrnnError, match="position 50 is outside the corpus"):
        stream.load_state_dict({"position": 50, "fresh": False})
