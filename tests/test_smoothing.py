"""The smoothed training loss: min-char-rnn's figure for classic, bias-corrected elsewhere."""

from __future__ import annotations

import math

import numpy as np
import pytest

import corpora
from engine.config import PRESETS, Config, preset
from engine.smoothing import LossSmoother, bias_corrected, smoothed_series, start_value
from engine.trainer import Trainer

import minchar_reference as ref


def known_losses(n: int) -> np.ndarray:
    """A loss curve with a fall and some wiggle, so every weight of the average matters."""
    k = np.arange(n)
    return 1.5 + 2.5 * np.exp(-k / 300) + 0.2 * np.sin(k / 7)


def weighted_mean(losses: np.ndarray, decay: float = 0.99) -> float:
    """The bias-corrected average written as what it means: a decay^(n-k)-weighted mean."""
    weights = decay ** np.arange(len(losses) - 1, -1, -1)
    return float(np.sum(weights * losses) / np.sum(weights))


def test_bias_corrected_equals_its_formula_on_a_known_sequence() -> None:
    losses = known_losses(3000)
    smoother = LossSmoother.for_config(preset("gru"), vocab_size=65)
    values = [smoother.update(x) for x in losses]
    for n in (1, 2, 10, 100, 500, 1000, 3000):
        assert values[n - 1] == pytest.approx(weighted_mean(losses[:n]), rel=1e-9), n


def test_bias_corrected_is_the_loss_itself_when_the_loss_is_constant() -> None:
    # What the issue is about: from the first step, not after thousands, the figure is the
    # loss being made, not a mix with ln(V).
    smoother = LossSmoother.for_config(preset("lstm"), vocab_size=65)
    uncorrected = LossSmoother(start_value(65), corrected=False)
    for _ in range(500):
        value = smoother.update(1.75)
        uncorrected.update(1.75)
    assert value == pytest.approx(1.75, rel=1e-12)
    assert uncorrected.value > 3.0  # min-char-rnn's average still carries most of ln 65


def test_bias_corrected_follows_the_model_not_the_whole_run() -> None:
    # A loss that fell and then settled: 500 steps later the figure is the settled loss
    # (within 1%), not the mean of the run so far, which held-out loss could not be read
    # against.
    smoother = LossSmoother.for_config(preset("gru"), vocab_size=65)
    for _ in range(300):
        smoother.update(4.0)
    for _ in range(500):
        value = smoother.update(2.0)
    assert value == pytest.approx(2.0, rel=0.01)
    assert weighted_mean(np.r_[np.full(300, 4.0), np.full(500, 2.0)], 0.999) > 2.5


def test_classic_gives_min_char_rnns_numbers_exactly(blog_text: str) -> None:
    trainer = Trainer(preset("classic").replace(hidden=16), blog_text, seed=2)
    weights = [
        trainer.params["l0.Wxh"],
        trainer.params["l0.Whh"],
        trainer.params["Why"],
        trainer.params["l0.bh"][:, None],
        trainer.params["by"][:, None],
    ]
    vocab = len(trainer.vocab)
    steps = list(ref.train(list(trainer.train_ids), vocab, weights, 60, hidden=16))
    smoother = LossSmoother.for_config(preset("classic"), vocab)
    assert smoother.value == -np.log(1.0 / vocab) * 25  # min-char-rnn's starting figure
    for _, loss, their_smooth in steps:
        assert smoother.update(loss) == their_smooth  # bit for bit, not approximately


def test_only_the_summed_loss_keeps_min_char_rnns_reading() -> None:
    assert not bias_corrected(preset("classic"))
    assert not bias_corrected(preset("classic").replace(hidden=256))
    for name in PRESETS:
        if name != "classic":
            assert bias_corrected(preset(name)), name


@pytest.mark.parametrize("config", [preset("classic"), preset("gru")], ids=["classic", "gru"])
def test_resuming_from_raw_and_count_continues_exactly(config: Config) -> None:
    losses = known_losses(800)
    whole = LossSmoother.for_config(config, vocab_size=40)
    for x in losses[:300]:
        whole.update(x)
    state = whole.state()
    resumed = LossSmoother.for_config(config, 40, raw=state["raw"], count=state["count"])
    assert resumed.value == whole.value
    for x in losses[300:]:
        assert resumed.update(x) == whole.update(x)


def test_smoothed_series_is_the_curve_metrics_would_have_recorded() -> None:
    name, text = corpora.load("blog_sample")
    trainer = Trainer(preset("classic").replace(hidden=12), text, seed=4, corpus_name=name)
    recorded = {}
    for _ in range(250):
        result = trainer.step()
        recorded[result.iteration] = result.smooth_nats_per_char
    history = np.frombuffer(trainer.loss_history, dtype=np.float32)
    series = smoothed_series(history, trainer.config, len(trainer.vocab), every=100)
    assert [n for n, _ in series] == [0, 100, 200]
    for n, value in series:  # the history is float32, hence not bit for bit
        assert value == pytest.approx(recorded[n], rel=1e-6)


def test_no_loss_yet_shows_the_starting_figure() -> None:
    smoother = LossSmoother.for_config(preset("gru"), vocab_size=65)
    assert smoother.value == pytest.approx(math.log(65))
    with pytest.raises(ValueError):
        LossSmoother(1.0, True, count=-1)
