"""Trainer.step(observe=...): an observer sees each part of one step as it happens, and a
watched step trains exactly as an unwatched one."""

from __future__ import annotations

import copy

import numpy as np

from engine.config import Config
from engine.model import Forward
from engine.optim import clip_elementwise, clip_global_norm
from engine.trainer import StepObserver, Trainer

TEXT = "".join(f"{i} green bottles hanging on the wall, and {i % 4} fell.\n" for i in range(40))


class Recorder(StepObserver):
    """Copies of everything the step shows, and the order it showed them in."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def window(self, inputs, targets, state, rng) -> None:  # type: ignore[no-untyped-def]
        self.calls.append("window")
        self.inputs, self.targets = inputs.copy(), targets.copy()
        self.state = [[a.copy() for a in s] for s in state]
        self.rng = copy.deepcopy(rng.bit_generator.state)

    def gradients(self, fwd: Forward, grads) -> None:  # type: ignore[no-untyped-def]
        self.calls.append("gradients")
        self.loss, self.raw = fwd.loss, {k: g.copy() for k, g in grads.items()}

    def updating(self, params, grads) -> None:  # type: ignore[no-untyped-def]
        self.calls.append("updating")
        self.before = {k: p.copy() for k, p in params.items()}
        self.clipped = {k: g.copy() for k, g in grads.items()}

    def updated(self, params) -> None:  # type: ignore[no-untyped-def]
        self.calls.append("updated")
        self.after = {k: p.copy() for k, p in params.items()}


def trainer() -> Trainer:
    config = Config(
        cell="lstm", hidden=8, layers=2, dropout=0.3, seq_length=6, batch=2, optimizer="adam",
        lr=0.01, loss="mean", clip=0.02, clip_norm=0.5,
    )  # fmt: skip
    t = Trainer(config, TEXT, seed=4)
    t.train(2)
    return t


def test_the_observer_is_shown_the_window_state_rng_gradients_and_weights_of_the_step() -> None:
    watched = trainer()
    twin = copy.deepcopy(watched)
    seen = Recorder()
    result = watched.step(observe=seen)

    # the same step done by hand on the twin, value by value
    inputs, targets, _ = twin.stream.next_window()
    rng_before = copy.deepcopy(twin.rng.bit_generator.state)
    state_before = [[a.copy() for a in s] for s in twin.state]
    weights_before = {k: p.copy() for k, p in twin.params.items()}
    fwd, grads, _ = twin.model.loss_and_grads(twin.params, inputs, targets, twin.state, twin.rng)
    raw = {k: g.copy() for k, g in grads.items()}
    clip_elementwise(grads, 0.02)
    clip_global_norm(grads, 0.5)

    assert seen.calls == ["window", "gradients", "updating", "updated"]
    assert np.array_equal(seen.inputs, inputs) and np.array_equal(seen.targets, targets)
    assert seen.rng == rng_before  # before the dropout masks were drawn
    for mine, theirs in zip(seen.state, state_before, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True))
    assert seen.loss == fwd.loss == result.loss
    for name in weights_before:
        assert np.array_equal(seen.raw[name], raw[name]), name
        assert np.array_equal(seen.clipped[name], grads[name]), name
        assert np.array_equal(seen.before[name], weights_before[name]), name
        assert np.array_equal(seen.after[name], watched.params[name]), name
    assert any(not np.array_equal(seen.raw[k], seen.clipped[k]) for k in raw)  # clipping bit
    assert any(not np.array_equal(seen.before[k], seen.after[k]) for k in raw)


def test_a_watched_step_trains_exactly_as_an_unwatched_one() -> None:
    watched = trainer()
    plain = copy.deepcopy(watched)
    for _ in range(3):
        assert watched.step(observe=Recorder()).loss == plain.step().loss
    for name, value in plain.params.items():
        assert np.array_equal(watched.params[name], value), name
    for name, value in plain.optimizer.state_dict().items():
        assert np.array_equal(watched.optimizer.state_dict()[name], value), name
    assert watched.rng.bit_generator.state == plain.rng.bit_generator.state
