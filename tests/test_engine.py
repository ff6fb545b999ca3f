"""Engine units: vocabulary, batch streams, sampling and the trainer's bookkeeping."""

from __future__ import annotations

import math

import numpy as np
import pytest

import corpora
from engine import gradcheck
from engine.config import preset
from engine.data import BatchStream
from engine.errors import CharrnnError
from engine.sampling import SampleSettings
from engine.trainer import Trainer
from engine.vocab import Vocab


def test_vocab_is_sorted_and_round_trips_any_unicode() -> None:
    _, text = corpora.load("kaze")
    vocab = Vocab.from_text(text)
    assert len(vocab) == 762
    assert list(vocab.chars) == sorted(vocab.chars)
    assert vocab.decode(vocab.encode(text[:500])) == text[:500]


def test_japanese_corpus_trains_and_samples_in_its_own_script() -> None:
    _, text = corpora.load("kaze")
    trainer = Trainer(preset("classic").replace(hidden=32), text, seed=0, corpus_name="kaze")
    trainer.train(20)
    sample = trainer.sample(SampleSettings(length=30))
    assert len(sample) == 30 and set(sample) <= set(text)


def test_batch_stream_with_one_lane_is_min_char_rnns_pointer() -> None:
    data = np.arange(60)
    stream = BatchStream(data, batch=1, seq_length=25)
    starts = []
    for _ in range(5):
        inputs, targets, reset = stream.next_window()
        starts.append((int(inputs[0, 0]), reset))
        assert np.array_equal(targets[:, 0], inputs[:, 0] + 1)
    # p = 0, 25; then 50 + 25 + 1 >= 60 wraps to 0 with the hidden state reset.
    assert starts == [(0, True), (25, False), (0, True), (25, False), (0, True)]


def test_batch_stream_lanes_are_evenly_spaced() -> None:
    stream = BatchStream(np.arange(1000), batch=4, seq_length=10)
    inputs, _, _ = stream.next_window()
    assert inputs.shape == (10, 4)
    assert list(inputs[0]) == [0, 250, 500, 750]
    inputs, _, _ = stream.next_window()
    assert list(inputs[0]) == [10, 260, 510, 760]


def test_smoothed_loss_starts_at_the_uniform_guess(tiny_trainer: Trainer) -> None:
    start = -math.log(1 / len(tiny_trainer.vocab)) * tiny_trainer.config.seq_length
    assert tiny_trainer.smooth_loss == pytest.approx(start)
    result = tiny_trainer.step()
    assert result.smooth_loss == pytest.approx(0.999 * start + 0.001 * result.loss)
    assert result.smooth_nats_per_char == pytest.approx(result.smooth_loss / 8)
    assert result.iteration == 0 and tiny_trainer.iteration == 1
    assert len(tiny_trainer.loss_history) == 1


def test_training_lowers_the_loss(tiny_trainer: Trainer) -> None:
    results = tiny_trainer.train(400)
    first = np.mean([r.nats_per_char for r in results[:50]])
    last = np.mean([r.nats_per_char for r in results[-50:]])
    assert last < first * 0.7


def test_seeded_samples_repeat(tiny_trainer: Trainer) -> None:
    tiny_trainer.train(50)
    settings = SampleSettings(length=40)
    a = tiny_trainer.sample(settings, rng=np.random.default_rng(1))
    b = tiny_trainer.sample(settings, rng=np.random.default_rng(1))
    assert a == b and len(a) == 40


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        (SampleSettings(temperature=0), "temperature must be a positive number"),
        (SampleSettings(temperature=float("nan")), "temperature must be a positive number"),
        (SampleSettings(length=-1), "length must be from 0 to 10,000 characters"),
        (
            SampleSettings(length=10_001),
            r"length must be from 0 to 10,000 characters \(got 10,001\)",
        ),
    ],
)
def test_bad_sample_settings(tiny_trainer: Trainer, settings, fragment: str) -> None:
    with pytest.raises(CharrnnError, match=fragment):
        tiny_trainer.sample(settings)


def test_prime_outside_the_vocabulary(tiny_trainer: Trainer) -> None:
    with pytest.raises(CharrnnError, match="outside the model's vocabulary: 'Qz'"):
        tiny_trainer.sample(SampleSettings(), prime="Quiz")


def test_gradient_check_passes_for_the_classic_rnn() -> None:
    config = preset("classic").replace(hidden=6, seq_length=5)
    results = gradcheck.check(config)
    assert {r.name for r in results} == {"l0.Wxh", "l0.Whh", "l0.bh", "Why", "by"}
    # each entry's relative error, well inside the stated tolerance (1e-5)
    assert all(r.rel_error < 1e-6 for r in results)


def test_gradient_check_catches_a_wrong_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.cells import rnn

    original = rnn.RNNCell.backward

    def broken(self, p, cache, dhs, grads):
        dx = original(self, p, cache, dhs, grads)
        grads["bh"] *= 1.01  # a 1% error must be caught
        return dx

    monkeypatch.setattr(rnn.RNNCell, "backward", broken)
    results = {r.name: r for r in gradcheck.check(preset("classic").replace(hidden=6))}
    assert not results["l0.bh"].ok and results["l0.Whh"].ok


@pytest.mark.parametrize("seed", [-1, 2**32, 2**40, True, 1.5])
def test_a_seed_outside_what_the_generators_take_is_refused(blog_text: str, seed) -> None:
    with pytest.raises(CharrnnError, match="seed must be a whole number from 0 to 4294967295"):
        Trainer(preset("classic").replace(hidden=4), blog_text, seed=seed)


def test_the_largest_seed_is_taken(blog_text: str) -> None:
    assert Trainer(preset("classic").replace(hidden=4), blog_text, seed=2**32 - 1).seed == 2**32 - 1


def test_a_one_character_corpus_reports_a_loss_of_zero_not_minus_zero() -> None:
    trainer = Trainer(preset("classic").replace(hidden=4, seq_length=3), "a" * 20)
    assert f"{trainer.smooth_loss:f}" == "0.000000"
    result = trainer.step()
    shown = [result.loss, result.smooth_loss, result.nats_per_char, result.smooth_nats_per_char]
    assert [f"{x:f}" for x in shown] == ["0.000000"] * 4
