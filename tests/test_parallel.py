"""Minibatches split across threads (engine/parallel.py): the same loss, gradients and state
as one pass, repeatable and resumable runs, and the --workers setting."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from engine.config import Config
from engine.errors import CharrnnError
from engine.model import CharModel
from engine.parallel import slices
from engine.trainer import Trainer

TEXT = "".join(
    f"line {i}: the {i * 7 % 13} quick foxes jumped over {i % 5} dogs.\n" for i in range(60)
)
VOCAB = 40


def small(cell: str, **changes) -> Config:  # type: ignore[no-untyped-def]
    settings = dict(
        hidden=12, seq_length=5, batch=7, dtype="float64", loss="mean", optimizer="adam", lr=0.01
    )
    return Config(cell=cell, **{**settings, **changes})


def one_pass_and_split(config: Config, parts: int, rng_seed: int | None = None):  # type: ignore[no-untyped-def]
    whole = CharModel(config.replace(workers=1), VOCAB)
    split = CharModel(config.replace(workers=parts), VOCAB)
    params = whole.init_params(3)
    draw = np.random.default_rng(0)
    ids = draw.integers(0, VOCAB, (config.seq_length + 1, config.batch))
    state = [
        tuple(draw.normal(size=a.shape) * 0.3 for a in s) for s in whole.zero_state(config.batch)
    ]

    def rng() -> np.random.Generator | None:
        return None if rng_seed is None else np.random.default_rng(rng_seed)

    return (
        whole.loss_and_grads(params, ids[:-1], ids[1:], state, rng()),
        split.loss_and_grads(params, ids[:-1], ids[1:], state, rng()),
    )


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("loss", ["mean", "sum"])
@pytest.mark.parametrize("parts", [2, 3])
def test_a_split_batch_gives_the_loss_gradients_and_state_of_one_pass(
    cell: str, loss: str, parts: int
) -> None:
    config = small(cell, loss=loss, layers=2, embedding=6)
    (f1, g1, s1), (f2, g2, s2) = one_pass_and_split(config, parts)
    assert f2.loss == pytest.approx(f1.loss, rel=1e-12)
    assert f2.nats_per_char == pytest.approx(f1.nats_per_char, rel=1e-12)
    assert set(g2) == set(g1)
    for name in g1:
        np.testing.assert_allclose(g2[name], g1[name], rtol=1e-10, atol=1e-13, err_msg=name)
    for layer1, layer2 in zip(s1, s2, strict=True):
        for a, b in zip(layer1, layer2, strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)  # rows never mix
    np.testing.assert_allclose(f2.top, f1.top, rtol=1e-12, atol=1e-15)


def test_slices_cover_every_stream_once_as_evenly_as_they_can() -> None:
    for batch, parts in [(64, 2), (7, 3), (5, 5), (33, 4)]:
        rows = [r for s in slices(batch, parts) for r in range(batch)[s]]
        assert rows == list(range(batch))
        widths = [s.stop - s.start for s in slices(batch, parts)]
        assert max(widths) - min(widths) <= 1


def test_a_split_run_with_dropout_repeats_and_resumes_exactly() -> None:
    config = small("gru", layers=2, dropout=0.3, workers=2)
    straight = Trainer(config, TEXT, seed=5)
    again = Trainer(config, TEXT, seed=5)
    assert [r.loss for r in straight.train(6)] == [r.loss for r in again.train(6)]
    resumed = Trainer(config, TEXT, seed=9)
    resumed.load_state_dict(straight.state_dict())
    assert [r.loss for r in resumed.train(5)] == [r.loss for r in straight.train(5)]
    for name, p in straight.params.items():
        np.testing.assert_array_equal(resumed.params[name], p)


def test_a_split_run_learns_as_one_pass_does() -> None:
    losses = {}
    for workers in (1, 2):
        trainer = Trainer(small("lstm", workers=workers), TEXT, seed=2)
        losses[workers] = [r.loss for r in trainer.train(60)]
    np.testing.assert_allclose(losses[2], losses[1], rtol=1e-9)
    assert np.mean(losses[2][-5:]) < np.mean(losses[2][:5]) - 0.25


def test_workers_zero_picks_two_threads_only_for_a_batch_worth_splitting(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert Config(batch=64).threads == 2
    assert Config(batch=16).threads == 1  # min-char-rnn's B=1 and small batches: one thread
    assert Config(batch=64, workers=1).threads == 1
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert Config(batch=64).threads == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch": 4, "workers": 5}, "workers must be 0 (automatic) to batch = 4 (got 5)"),
        ({"workers": -1}, "workers must be 0 (automatic) to batch = 1 (got -1)"),
        ({"batch": 128, "workers": 65}, "workers must be at most 64 (got 65)"),
    ],
    ids=["more-than-streams", "negative", "too-many"],
)
def test_bad_worker_counts_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(CharrnnError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Config(**changes).validate()


def test_a_resumed_run_may_change_its_worker_count() -> None:
    saved = small("gru", workers=1)
    assert saved.resumed({"workers": 3}, "run.npz").workers == 3


def test_the_charrnn_command_gives_blas_one_thread_unless_the_user_chose() -> None:
    """BLAS threads on top of charrnn's own would wait for busy cores; a user's value stays."""
    probe = "import tui.cli, os; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    chosen = {**env, "OPENBLAS_NUM_THREADS": "2"}
    for environment, expected in ((env, "1"), (chosen, "2")):
        out = subprocess.run(
            [sys.executable, "-c", probe], env=environment, capture_output=True, text=True
        )
        assert out.stdout.strip() == expected, out.stderr
