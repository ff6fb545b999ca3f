"""Checkpoints written by older charrnn code (kept in tests/fixtures/) load and resume exactly.

v1-*.npz: format 1 as commit c417dd1 wrote it (tests/fixtures/make_v1_checkpoints.py).
packed-*.npz: the packed, averaged format as commit 22c2220 wrote it
(tests/fixtures/make_packed_checkpoints.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import corpora
from engine import checkpoint
from engine.trainer import Trainer
from tui.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
MORE = 12  # iterations trained after resuming

# file -> (corpus, characters of it used), as the script that wrote it says
V1 = {"v1-rnn.npz": ("blog_sample", 58), "v1-lstm.npz": ("alice", 400)}
PACKED = {
    "packed-rnn.npz": ("alice", 300),
    "packed-gru-average.npz": ("kaze", 400),
    "packed-lstm-dropout.npz": ("alice", 500),
}


def resumed_and_straight(file: str, corpus: str, chars: int) -> tuple[Trainer, Trainer]:
    """The fixture resumed, and the same run trained from iteration 0, never interrupted."""
    text = corpora.load(corpus)[1][:chars]
    ckpt = checkpoint.load(FIXTURES / file)
    resumed = checkpoint.restore(ckpt, text, corpus)
    straight = Trainer(ckpt.config, text, seed=int(ckpt.meta["seed"]), corpus_name=corpus)
    straight.train(ckpt.iteration)
    return resumed, straight


@pytest.mark.parametrize(("file", "corpus", "chars"), [(f, *v) for f, v in (V1 | PACKED).items()])
def test_an_old_checkpoint_resumes_as_if_never_stopped(file: str, corpus: str, chars: int) -> None:
    resumed, straight = resumed_and_straight(file, corpus, chars)

    assert resumed.iteration == straight.iteration > 0
    assert list(resumed.loss_history) == list(straight.loss_history)
    assert resumed.val_history == straight.val_history
    assert [r.loss for r in resumed.train(MORE)] == [r.loss for r in straight.train(MORE)]
    assert resumed.val_history == straight.val_history
    for name, value in straight.params.items():
        assert np.array_equal(resumed.params[name], value), name
    for name, value in straight.optimizer.state_dict().items():
        assert np.array_equal(resumed.optimizer.state_dict()[name], value), name
    # the weights sampling reads (the running average, for a run that keeps one)
    for name, value in straight.weights.items():
        assert np.array_equal(resumed.weights[name], value), name


def test_the_fixtures_hold_what_they_are_kept_for() -> None:
    """Each file exercises what its name says (else the tests above would prove less)."""
    lstm = checkpoint.load(FIXTURES / "v1-lstm.npz")
    assert len(lstm.arrays["history/val"]) > 0
    gru = checkpoint.load(FIXTURES / "packed-gru-average.npz")
    assert gru.config.average > 0 and gru.config.embedding > 0
    assert any(k.startswith("optim/average.") for k in gru.arrays)
    assert len(gru.arrays["history/val"]) > 0 and max(map(ord, gru.vocab.chars)) > 127
    deep = checkpoint.load(FIXTURES / "packed-lstm-dropout.npz").config
    assert (deep.cell, deep.layers) == ("lstm", 2) and deep.dropout > 0
    classic = checkpoint.load(FIXTURES / "packed-rnn.npz").config
    assert (classic.cell, classic.dtype, classic.optimizer) == ("rnn", "float64", "adagrad")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


@pytest.mark.parametrize(("file", "corpus", "chars"), [(f, *v) for f, v in PACKED.items()])
def test_sample_and_inspect_read_an_old_checkpoint_as_a_new_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, file: str, corpus: str, chars: int
) -> None:
    """`charrnn sample` and `charrnn inspect` give the same output for the fixture as for
    the same run saved by today's code."""
    _, straight = resumed_and_straight(file, corpus, chars)
    fresh = checkpoint.save(straight, tmp_path / "fresh.npz")
    old = str(FIXTURES / file)
    passage = corpora.load(corpus)[1][:40]

    for path in (old, str(fresh)):
        assert "Traceback" not in cli(capsys, "sample", path, "--seed", "4", "--length", "5")
    sample = ["--seed", "4", "--length", "60"]
    text = cli(capsys, "sample", old, *sample)
    assert len(text.rstrip("\n")) >= 60
    assert text == cli(capsys, "sample", str(fresh), *sample)
    primed = ["--prime", passage[:5], "--greedy", "--length", "30"]
    assert cli(capsys, "sample", old, *primed) == cli(capsys, "sample", str(fresh), *primed)

    shown = json.loads(cli(capsys, "inspect", old, "--text", passage, "--json"))
    assert shown == json.loads(cli(capsys, "inspect", str(fresh), "--text", passage, "--json"))
    assert shown  # something was inspected
    assert passage[1] in cli(capsys, "inspect", old, "--text", passage)
