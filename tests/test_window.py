"""The training window as the window view describes it (engine/window.py): positions, resets
and epochs exactly as BatchStream reads them, the replay of a step (weights, state, dropout
masks) giving that step's own numbers, what clipping did, and the snapshot file carrying it
all to a viewer in another process."""

from __future__ import annotations

import copy
import dataclasses
import itertools

import numpy as np
import pytest

import corpora
from engine import checkpoint
from engine.config import Config, preset
from engine.data import BatchStream
from engine.inspect import step_statistics, take_snapshot
from engine.model import CharModel
from engine.optim import clip_elementwise
from engine.snapshot_file import read_snapshot, stats_from_dict, stats_to_dict, write_snapshot
from engine.through_time import WindowPass
from engine.trainer import Trainer
from engine.vocab import Vocab
from engine.window import describe, shown_streams, training_masks

BLOG = corpora.load("blog_sample")[1]


@pytest.mark.parametrize(("batch", "seq_length"), [(1, 25), (1, 28), (2, 5), (3, 7)])
def test_the_window_views_positions_equal_batchstreams(batch, seq_length) -> None:
    vocab = Vocab.from_text(BLOG * 3)
    ids = vocab.encode(BLOG * 3)
    stream = BatchStream(ids, batch, seq_length)
    model = CharModel(Config(hidden=4, seq_length=seq_length, batch=batch), len(vocab))
    state = model.zero_state(batch)
    epoch = 1
    for n in range(40):
        window = describe(stream, vocab, n, model, state, taken=False)
        position = stream.position
        inputs, targets, reset = stream.next_window()
        assert bool(window.reset) == reset
        if reset:
            assert window.reset == ("fresh" if n == 0 else "wrapped")
            assert position + seq_length + 1 >= stream.lane or n == 0
            epoch += window.reset == "wrapped"
        assert window.epoch == epoch
        assert window.position == stream.position - seq_length
        for shown in window.streams:
            b = shown.stream
            assert shown.start == b * stream.lane + window.position
            assert shown.inputs == vocab.decode(inputs[:, b].tolist())
            assert shown.targets == vocab.decode(targets[:, b].tolist())
            # the text itself: each target is the next character of the corpus
            text = BLOG * 3
            assert shown.inputs == text[shown.start : shown.start + seq_length]
            assert shown.targets == text[shown.start + 1 : shown.start + seq_length + 1]


def test_the_blog_samples_last_characters_are_never_a_target() -> None:
    """As docs/learn.md shows with BatchStream itself: at seq_length 25 the windows start at 0
    and 25, and the pointer wraps before reaching the last seven characters."""
    vocab = Vocab.from_text(BLOG)
    stream = BatchStream(vocab.encode(BLOG), 1, 25)
    model = CharModel(Config(hidden=4), len(vocab))
    seen = []
    for n in range(4):
        window = describe(stream, vocab, n, model, model.zero_state(1), taken=False)
        seen.append((window.position, window.reset, window.epoch))
        stream.next_window()
    assert seen == [(0, "fresh", 1), (25, "", 1), (0, "wrapped", 2), (25, "", 2)]


def test_the_shown_streams_start_with_zero_and_end_with_the_last() -> None:
    assert shown_streams(1) == [0]
    assert shown_streams(3) == [0, 1, 2]
    assert shown_streams(64) == [0, 21, 42, 63]


def test_the_snapshots_next_window_is_the_one_the_step_then_takes() -> None:
    trainer = Trainer(Config(cell="gru", hidden=8, seq_length=6, batch=3), BLOG * 4)
    trainer.train(3)
    upcoming = take_snapshot(trainer, length=50).next
    result, stats = step_statistics(trainer)
    assert stats.window == dataclasses.replace(upcoming.window, taken=True)
    assert stats.window.iteration == result.iteration == upcoming.window.iteration
    for a, b in zip(stats.replay.state, upcoming.replay.state, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(stats.replay.inputs, upcoming.replay.inputs)
    assert stats.clipping == upcoming.clipping


@pytest.mark.parametrize("workers", [1, 2])
def test_the_replayed_dropout_masks_are_the_ones_training_draws(workers) -> None:
    config = Config(cell="lstm", hidden=6, layers=3, dropout=0.4, batch=8, seq_length=5)
    config = config.replace(dtype="float32", loss="mean", workers=workers, init_scale=0.5)
    trainer = Trainer(config, BLOG * 4)
    inputs, targets, _ = copy.deepcopy(trainer.stream).next_window()
    state = trainer.model.zero_state(8)
    masks = training_masks(trainer.model, copy.deepcopy(trainer.rng), 5, 8)
    assert masks[0] is None and all(m.shape == (5, 8, 6) for m in masks[1:])
    replayed, _ = trainer.model.forward(trainer.params, inputs, targets, state, masks=masks)
    trained, _, _ = trainer.model.loss_and_grads(
        trainer.params, inputs, targets, state, trainer.rng
    )
    np.testing.assert_allclose(replayed.top, trained.top, rtol=1e-5)
    assert replayed.loss == pytest.approx(trained.loss, rel=1e-6)
    unmasked, _ = trainer.model.forward(trainer.params, inputs, targets, state)
    assert not np.allclose(unmasked.top, trained.top, rtol=1e-3)  # the masks matter here


def test_a_taken_window_replays_the_steps_own_loss() -> None:
    trainer = Trainer(preset("classic").replace(hidden=16, seq_length=10), BLOG * 4)
    trainer.train(7)
    result, stats = step_statistics(trainer)
    wp = WindowPass(trainer.config, len(trainer.vocab), stats.replay, 0)
    assert wp.loss.sum() == pytest.approx(result.loss, rel=1e-12)  # float64, summed: classic


@pytest.mark.parametrize("clip_norm", [0.0, 0.05])
def test_clipping_says_what_the_step_did_to_its_gradient(clip_norm) -> None:
    config = Config(cell="rnn", hidden=10, seq_length=8, clip=0.02, clip_norm=clip_norm)
    trainer = Trainer(config, BLOG * 4)
    twin = copy.deepcopy(trainer)
    _, stats = step_statistics(trainer)
    inputs, targets, _ = twin.stream.next_window()
    _, raw, _ = twin.model.loss_and_grads(
        twin.params, inputs, targets, twin.model.zero_state(1), twin.rng
    )
    clipped = {k: g.copy() for k, g in raw.items()}
    clip_elementwise(clipped, 0.02)
    changed = sum(int((clipped[k] != raw[k]).sum()) for k in raw)
    c = stats.clipping
    assert c.changed == changed > 0 and sum(c.by_param.values()) == changed
    assert c.elements == sum(g.size for g in raw.values())
    norm = np.sqrt(sum(float(np.vdot(g, g)) for g in clipped.values()))
    if clip_norm:
        assert c.scale == pytest.approx(clip_norm / norm, rel=1e-5) and c.scale < 1
        assert c.norm_after == pytest.approx(clip_norm, rel=1e-5)
    else:
        assert c.scale == 1.0 and c.norm_after == pytest.approx(norm)


def test_the_snapshot_file_carries_both_windows_to_another_process(tmp_path) -> None:
    config = Config(cell="lstm", hidden=8, layers=2, dropout=0.3, seq_length=6, batch=5)
    trainer = Trainer(config.replace(average=0.9), BLOG * 6)
    trainer.train(2)
    _, stats = step_statistics(trainer)
    snapshot = take_snapshot(trainer, length=60, stats=stats)
    back = read_snapshot(write_snapshot(snapshot, tmp_path / "inspect.npz"))
    for name in ("next", "taken"):
        mine, theirs = getattr(snapshot, name), getattr(back, name)
        assert theirs.window == mine.window and theirs.clipping == mine.clipping
        for key, value in mine.replay.params.items():
            np.testing.assert_array_equal(theirs.replay.params[key], value)
        for a, b in itertools.zip_longest(mine.replay.masks, theirs.replay.masks):
            assert (a is None and b is None) or np.array_equal(a, b)
        np.testing.assert_array_equal(theirs.replay.targets, mine.replay.targets)
    # with averaging, the next step trains the raw weights, not the averaged ones samples use
    assert not np.array_equal(back.next.replay.params["Why"], back.params["Why"])
    assert stats_from_dict(stats_to_dict(stats)) == stats


def test_epochs_are_saved_and_estimated_for_older_checkpoints(tmp_path) -> None:
    trainer = Trainer(Config(hidden=6, seq_length=25), BLOG)
    trainer.train(5)  # two windows an epoch: wrapped twice
    assert trainer.stream.epoch == 2
    path = tmp_path / "m.npz"
    checkpoint.save(trainer, path)
    back = checkpoint.restore(checkpoint.load(path), BLOG, "blog_sample")
    assert back.stream.epoch == 2
    state = trainer.state_dict()
    del state["stream"]["epoch"]
    older = Trainer(Config(hidden=6, seq_length=25), BLOG)
    older.load_state_dict(state)
    assert older.stream.epoch == 5 // older.stream.windows_per_epoch == 2
