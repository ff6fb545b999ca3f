"""Checkpoints written by older charrnn code (kept in tests/fixtures/) load and resume exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import corpora
from engine import checkpoint
from engine.trainer import Trainer

FIXTURES = Path(__file__).parent / "fixtures"
MORE = 12  # iterations trained after resuming


@pytest.mark.parametrize(
    ("file", "corpus", "chars"),
    [("v1-rnn.npz", "blog_sample", 58), ("v1-lstm.npz", "alice", 400)],
)
def test_a_format_1_checkpoint_resumes_as_if_never_stopped(
    file: str, corpus: str, chars: int
) -> None:
    text = corpora.load(corpus)[1][:chars]
    ckpt = checkpoint.load(FIXTURES / file)
    resumed = checkpoint.restore(ckpt, text, corpus)
    # The same run, never interrupted: same config, seed and text from iteration 0.
    straight = Trainer(ckpt.config, text, seed=int(ckpt.meta["seed"]), corpus_name=corpus)
    straight.train(ckpt.iteration)

    assert resumed.iteration == straight.iteration > 0
    assert list(resumed.loss_history) == list(straight.loss_history)
    assert resumed.val_history == straight.val_history
    assert [r.loss for r in resumed.train(MORE)] == [r.loss for r in straight.train(MORE)]
    assert resumed.val_history == straight.val_history
    for name, value in straight.params.items():
        assert np.array_equal(resumed.params[name], value), name


def test_the_lstm_fixture_holds_a_validation_history() -> None:
    assert len(checkpoint.load(FIXTURES / "v1-lstm.npz").arrays["history/val"]) > 0
