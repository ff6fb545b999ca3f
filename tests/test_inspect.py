"""Inspection: a passage's predictions and activations, the unit finder, gate saturation, the
observed training step, and the text and JSON that `charrnn inspect` prints."""

from __future__ import annotations

import copy
import json
import unicodedata

import numpy as np
import pytest
from rich.cells import cell_len
from test_cli import assert_clean_error, run, run_exit

from engine import checkpoint
from engine.cells.gru import N, R, Z
from engine.cells.lstm import CAND, FORGET, IN, OUT
from engine.config import CELLS, Config
from engine.errors import CharrnnError
from engine.evaluate import lanes_of, mean_nats_over_lanes, nats_of_logits, validation_loss
from engine.inspect import (
    PREDICTION_BLOCK,
    PROPERTIES,
    find_units,
    forward_passage,
    gate_saturation,
    step_statistics,
    take_snapshot,
)
from engine.limits import MAX_PASSAGE_CHARS
from engine.model import CharModel
from engine.trainer import Trainer
from engine.vocab import Vocab
from tui import inspect_text

TEXT = 'He said, "Look (there) at 42 Oak Lane!"\nShe did.\tThen: "No."\n'


def model_for(
    cell: str, vocab: Vocab, *, layers: int = 2, dtype: str = "float64", hidden: int = 7
) -> tuple[CharModel, dict[str, np.ndarray]]:
    config = Config(cell=cell, hidden=hidden, layers=layers, dtype=dtype, init_scale=0.5)
    model = CharModel(config, len(vocab))
    return model, model.init_params(1)


def random_state(model: CharModel, seed: int = 5) -> list[tuple[np.ndarray, ...]]:
    rs = np.random.RandomState(seed)
    return [
        tuple(np.tanh(rs.randn(*a.shape)).astype(a.dtype) for a in s) for s in model.zero_state(1)
    ]


# -- predictions --------------------------------------------------------------------------------


def per_char_nats(model, params, ids, state) -> np.ndarray:
    """Each character's -ln p from the validation code, read off the means over prefixes."""

    def chunk_nats(x, y, s):
        top, _, s = model.forward_layers(params, x, s)
        return nats_of_logits(model.logits(params, top), y), s

    totals = [0.0]
    for t in range(len(ids) - 1):
        inputs, targets = lanes_of(ids[: t + 2], lanes=1)
        totals.append(mean_nats_over_lanes(chunk_nats, inputs, targets, state, chunk=5) * (t + 1))
    return np.diff(totals)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell", CELLS)
def test_probabilities_are_exp_of_minus_the_validation_loss_per_character(cell, dtype) -> None:
    vocab = Vocab.from_text(TEXT)
    model, params = model_for(cell, vocab, dtype=dtype)
    passage = forward_passage(model, params, vocab, TEXT)
    ids = vocab.encode(TEXT)
    nats = per_char_nats(model, params, ids, model.zero_state(1))
    rtol = 1e-9 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(passage.target_prob, np.exp(-nats), rtol=rtol)
    # and the mean is what training's validation reports on this text
    mean = validation_loss(model, params, ids, lanes=1)
    assert -np.log(passage.target_prob).mean() == pytest.approx(mean, rel=rtol)


@pytest.mark.parametrize("cell", CELLS)
def test_probabilities_from_a_carried_state_match_the_validation_code(cell) -> None:
    vocab = Vocab.from_text(TEXT)
    model, params = model_for(cell, vocab)
    state = random_state(model)
    passage = forward_passage(model, params, vocab, TEXT, state=state)
    nats = per_char_nats(model, params, vocab.encode(TEXT), state)
    np.testing.assert_allclose(passage.target_prob, np.exp(-nats), rtol=1e-9)
    zero = forward_passage(model, params, vocab, TEXT)
    assert not np.allclose(zero.target_prob[:3], passage.target_prob[:3])  # the state counts


def test_a_batched_state_is_read_from_its_first_stream() -> None:
    vocab = Vocab.from_text(TEXT)
    model, params = model_for("lstm", vocab)
    one = random_state(model)
    batched = [tuple(np.concatenate([a, -a, a * 0.5]) for a in s) for s in one]
    a = forward_passage(model, params, vocab, TEXT, state=one)
    b = forward_passage(model, params, vocab, TEXT, state=batched)
    np.testing.assert_array_equal(a.target_prob, b.target_prob)


@pytest.mark.parametrize("cell", CELLS)
def test_top_k_is_sorted_sums_to_at_most_one_and_starts_with_the_likeliest(cell) -> None:
    vocab = Vocab.from_text(TEXT)
    model, params = model_for(cell, vocab)
    passage = forward_passage(model, params, vocab, TEXT, top_k=5)
    assert passage.top_probs.shape == (len(TEXT), 5)
    assert np.all(np.diff(passage.top_probs, axis=1) <= 0)
    assert np.all(passage.top_probs.sum(axis=1) <= 1 + 1e-12)
    top, _, _ = model.forward_layers(params, vocab.encode(TEXT)[:, None], model.zero_state(1))
    np.testing.assert_array_equal(passage.top_ids[:, 0], model.logits(params, top)[:, 0].argmax(1))
    # asking for more than the vocabulary gives all of it, which sums to one
    everything = forward_passage(model, params, vocab, TEXT, top_k=len(vocab) + 10)
    assert everything.top_ids.shape[1] == len(vocab)
    np.testing.assert_allclose(everything.top_probs.sum(axis=1), 1.0, rtol=1e-12)
    assert passage.top(3)[0] == (vocab.chars[passage.top_ids[3, 0]], passage.top_probs[3, 0])


# -- activations against a plain re-statement of each cell ---------------------------------------


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference_layer(cell: str, p: dict, xs: np.ndarray) -> dict[str, np.ndarray]:
    """Each cell's equations, one step at a time on vectors, from its module's docstring."""
    hid = p["Wh"].shape[0] if "Wh" in p else p["Whh"].shape[0]
    h, c, out = np.zeros(hid), np.zeros(hid), {}
    for x in xs:
        if cell == "rnn":
            h = np.tanh(p["Wxh"] @ x + p["Whh"] @ h + p["bh"])
            step = {"h": h}
        elif cell == "lstm":
            a = (x @ p["Wx"] + h @ p["Wh"] + p["b"]).reshape(4, hid)
            o, i, f, g = sigmoid(a[OUT]), sigmoid(a[IN]), sigmoid(a[FORGET]), np.tanh(a[CAND])
            c = f * c + i * g
            h = o * np.tanh(c)
            step = {"i": i, "f": f, "o": o, "g": g, "c": c, "h": h}
        else:
            gx, gh = (x @ p["Wx"] + p["b"]).reshape(3, hid), (h @ p["Wh"]).reshape(3, hid)
            r, z = sigmoid(gx[R] + gh[R]), sigmoid(gx[Z] + gh[Z])
            n = np.tanh(gx[N] + r * (gh[N] + p["bhn"]))
            h = (1 - z) * n + z * h
            step = {"z": z, "r": r, "n": n, "h": h}
        for name, value in step.items():
            out.setdefault(name, []).append(value)
    return {name: np.array(values) for name, values in out.items()}


# The cells reference_layer re-states (a textbook cell follows its fast twin's equations);
# tests/test_cell_protocol.py checks every registered cell's activations against its forward.
RESTATED = ("rnn", "lstm", "gru", "textbook-rnn", "textbook-lstm", "textbook-gru")


@pytest.mark.parametrize("cell", RESTATED)
def test_activations_are_the_cells_equations_and_the_models_own_forward(cell) -> None:
    vocab = Vocab.from_text(TEXT)
    model, params = model_for(cell, vocab)
    passage = forward_passage(model, params, vocab, TEXT)
    xs = np.eye(len(vocab))[vocab.encode(TEXT)]
    for layer in range(2):
        twin = cell.removeprefix("textbook-")
        expected = reference_layer(twin, model.layer_params(params, layer), xs)
        assert set(passage.layers[layer]) == set(expected)
        for name, values in expected.items():
            np.testing.assert_allclose(passage.layers[layer][name], values, rtol=1e-10, atol=1e-12)
        xs = expected["h"]
    top, _, _ = model.forward_layers(params, vocab.encode(TEXT)[:, None], model.zero_state(1))
    np.testing.assert_array_equal(passage.layers[-1]["h"], top[:, 0])


# -- bad input -------------------------------------------------------------------------------------


def test_passage_bad_input_gives_one_line_errors() -> None:
    vocab = Vocab.from_text(TEXT)
    model, params = model_for("lstm", vocab)
    cases = {
        "characters outside": lambda: forward_passage(model, params, vocab, "Zero~"),
        "passage is empty": lambda: forward_passage(model, params, vocab, ""),
        "top-k must be at least 1": lambda: forward_passage(model, params, vocab, "He", top_k=0),
    }
    passage = forward_passage(model, params, vocab, TEXT)
    cases |= {
        "layer 2 does not exist": lambda: passage.activation(2, "h"),
        "have no 'z'": lambda: passage.activation(0, "z"),
        "unknown text property 'colour'": lambda: find_units(passage, ["colour"]),
        "at least 2 characters": lambda: find_units(forward_passage(model, params, vocab, "H")),
    }
    for words, call in cases.items():
        with pytest.raises(CharrnnError, match=words) as info:
            call()
        assert "\n" not in str(info.value)
    with pytest.raises(CharrnnError, match="'Z~'"):  # names exactly the missing ones
        forward_passage(model, params, vocab, "Zero~")


def test_a_passage_over_the_limit_is_refused_and_one_at_it_is_read() -> None:
    """The issue's case: a 5 MB passage reached 9.9 GB. The limit is MAX_PASSAGE_CHARS."""
    vocab = Vocab.from_text(TEXT)
    model, params = model_for("rnn", vocab, layers=1)
    longest = (TEXT * (MAX_PASSAGE_CHARS // len(TEXT) + 1))[:MAX_PASSAGE_CHARS]
    assert len(forward_passage(model, params, vocab, longest)) == MAX_PASSAGE_CHARS
    with pytest.raises(CharrnnError) as refused:
        forward_passage(model, params, vocab, longest + "H")
    assert str(refused.value) == (
        f"the passage is {MAX_PASSAGE_CHARS + 1:,} characters; inspect reads at most "
        f"{MAX_PASSAGE_CHARS:,} characters at once (each keeps every layer's activations in "
        "memory)"
    )


def test_predictions_made_a_block_at_a_time_are_one_pass_s() -> None:
    """Predictions are computed PREDICTION_BLOCK positions at a time, to bound memory: the
    same numbers as the whole (N, V) distribution at once, across block edges too."""
    vocab = Vocab.from_text(TEXT)
    model, params = model_for("gru", vocab)
    text = (TEXT * 100)[: 2 * PREDICTION_BLOCK + 7]
    passage = forward_passage(model, params, vocab, text, top_k=4)
    ids = vocab.encode(text)
    top, _, _ = model.forward_layers(params, ids[:, None], model.zero_state(1))
    logits = model.logits(params, top)[:, 0].astype(np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(passage.target_prob, probs[np.arange(len(ids) - 1), ids[1:]])
    expected = np.argsort(-probs, axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(passage.top_ids, expected)
    np.testing.assert_allclose(passage.top_probs, np.take_along_axis(probs, expected, axis=1))


# -- text properties and the unit finder -----------------------------------------------------------


def test_text_properties_on_hand_checked_strings() -> None:
    def prop(name, text):
        return PROPERTIES[name](text).tolist()

    assert prop("inside quotes", 'a"bc"d') == [0, 1, 1, 1, 0, 0]
    assert prop("inside quotes", "a“b”c") == [0, 1, 1, 0, 0]
    assert prop("inside brackets", "a(b[c]d)e)f") == [0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert prop("chars since newline", "ab\ncd") == [1, 2, 0, 1, 2]
    assert prop("word start", "I am, ok") == [1, 0, 1, 0, 0, 0, 1, 0]
    assert prop("position in word", "ab c") == [1, 2, 0, 1]
    assert prop("upper-case", "aB1 ") == [0, 1, 0, 0]
    assert prop("vowel", "bAe1") == [0, 1, 1, 0]
    assert prop("digit", "a1 2") == [0, 1, 0, 1]
    assert prop("whitespace", "a \n\tb") == [0, 1, 1, 1, 0]
    assert prop("punctuation", "a,b!") == [0, 1, 0, 1]


QUOTES = (
    "They said “yes” and then “no, not today” twice.\n"
    "Nobody “knew why” at all, but “we went on” anyway.\n"
) * 6


def test_finder_ranks_a_planted_quote_unit_first() -> None:
    """Unit 3 of a hand-built RNN is switched on by “ and off by ”, and holds its sign through
    a strong self-loop: the finder must put it first for "inside quotes"."""
    vocab = Vocab.from_text(QUOTES)
    config = Config(cell="rnn", hidden=6, init_scale=0.1)
    model = CharModel(config, len(vocab))
    params = model.init_params(2)
    k = 3
    wxh, whh, bh = params["l0.Wxh"], params["l0.Whh"], params["l0.bh"]
    wxh[k] = 0
    wxh[k, vocab.chars.index("“")] = 5
    wxh[k, vocab.chars.index("”")] = -5
    whh[k], whh[:, k] = 0, 0
    whh[k, k] = 3
    bh[k] = -1
    passage = forward_passage(model, params, vocab, QUOTES)
    best = find_units(passage, ["inside quotes"])[0]
    assert (best.layer, best.kind, best.unit, best.property) == (0, "h", k, "inside quotes")
    assert best.r > 0.9
    mine = next(s for s in find_units(passage) if s.unit == k)
    assert mine.property == "inside quotes"


LINES = "\n" + "".join(
    "x" * n + ".\n" for n in (3, 17, 8, 30, 1, 12, 25, 6, 19, 10, 2, 27, 14)
).replace("xxx", "ab ")


def test_finder_ranks_a_planted_line_length_cell_first() -> None:
    """LSTM unit 2 forgets at a newline and otherwise adds the same amount every character:
    its cell counts the characters since the last newline."""
    vocab = Vocab.from_text(LINES)
    config = Config(cell="lstm", hidden=4, init_scale=0.3)
    model = CharModel(config, len(vocab))
    params = model.init_params(4)
    k, newline = 2, vocab.chars.index("\n")
    wx = params["l0.Wx"].reshape(len(vocab), 4, 4)
    params["l0.Wh"].reshape(4, 4, 4)[:, :, k] = 0
    params["l0.b"].reshape(4, 4)[:, k] = 0
    wx[:, IN, k], wx[:, OUT, k], wx[:, CAND, k] = 10, 10, 0.1
    wx[:, FORGET, k] = 10
    wx[newline, FORGET, k] = -10
    passage = forward_passage(model, params, vocab, LINES)
    best = find_units(passage, ["chars since newline"])[0]
    assert (best.layer, best.kind, best.unit) == (0, "c", k)
    assert best.r > 0.95


# -- gate saturation ------------------------------------------------------------------------------


def test_lstm_gate_saturation_on_hand_made_weights() -> None:
    vocab = Vocab.from_text("ab")
    model = CharModel(Config(cell="lstm", hidden=2), len(vocab))
    params = {k: np.zeros_like(v) for k, v in model.init_params(0).items()}
    wx = params["l0.Wx"].reshape(2, 4, 2)  # (char, gate, unit)
    a, b = vocab.chars.index("a"), vocab.chars.index("b")
    wx[a, IN, 0], wx[b, IN, 0] = 10, -10  # unit 0: input gate open on a, closed on b
    wx[:, FORGET, 0] = -10  # always closed
    wx[:, FORGET, 1] = 10  # unit 1: forget gate always open
    wx[a, OUT, 1], wx[b, OUT, 1] = -10, 10  # output gate closed on a, open on b
    # unit 0's output gate and unit 1's input gate stay at sigmoid(0) = 0.5: never saturated
    passage = forward_passage(model, params, vocab, "aaab" * 5)
    found = {s.gate: (s.low.tolist(), s.high.tolist()) for s in gate_saturation(passage)}
    assert found == {
        "i": ([0.25, 0.0], [0.75, 0.0]),
        "f": ([1.0, 0.0], [0.0, 1.0]),
        "o": ([0.0, 0.75], [0.0, 0.25]),
    }


def test_gru_gate_saturation_on_hand_made_weights_and_none_for_rnn() -> None:
    vocab = Vocab.from_text("ab")
    model = CharModel(Config(cell="gru", hidden=2), len(vocab))
    params = {k: np.zeros_like(v) for k, v in model.init_params(0).items()}
    wx = params["l0.Wx"].reshape(2, 3, 2)
    a, b = vocab.chars.index("a"), vocab.chars.index("b")
    wx[a, Z, 0], wx[b, Z, 0] = 10, -10
    wx[:, R, 1] = -10
    passage = forward_passage(model, params, vocab, "abab" + "b" * 6)
    found = {(s.layer, s.gate): (s.low.tolist(), s.high.tolist()) for s in gate_saturation(passage)}
    assert found == {(0, "z"): ([0.8, 0.0], [0.2, 0.0]), (0, "r"): ([0.0, 1.0], [0.0, 0.0])}
    rnn_model, rnn_params = model_for("rnn", vocab)
    assert gate_saturation(forward_passage(rnn_model, rnn_params, vocab, "abba")) == []


# -- snapshots -------------------------------------------------------------------------------------


def test_a_snapshot_keeps_its_weights_while_training_goes_on() -> None:
    text = (TEXT * 30)[:1500]
    trainer = Trainer(Config(cell="gru", hidden=8, seq_length=10, val_fraction=0.3), text, seed=1)
    trainer.step()
    snap = take_snapshot(trainer, length=120)
    before = snap.passage()
    for _ in range(5):
        trainer.step()
    assert snap.iteration == 1
    assert snap.model is not trainer.model
    np.testing.assert_array_equal(snap.passage().target_prob, before.target_prob)
    assert not np.array_equal(snap.params["Why"], trainer.params["Why"])
    assert snap.summary == "gru 8"


def test_the_default_passage_is_held_out_text_read_on_from_the_text_before_it() -> None:
    text = "".join(f"line {i} of the corpus, held out or not.\n" for i in range(60))
    trainer = Trainer(Config(cell="lstm", hidden=6, seq_length=10, val_fraction=0.5), text)
    trainer.train(2)
    snap = take_snapshot(trainer, length=100)
    np.testing.assert_array_equal(snap.state[0][1], trainer.state[0][1][:1])
    held_out = trainer.vocab.decode(trainer.val_ids)
    start = held_out.index(snap.default_text)
    assert len(snap.default_text) == 100 and held_out[start - 1] == "\n"  # a line start
    ids = trainer.vocab.encode(held_out[:start])
    _, _, expected = snap.model.forward_layers(
        snap.params, ids[-200:, None], snap.model.zero_state(1)
    )
    for ours, theirs in zip(snap.default_state, expected, strict=True):
        np.testing.assert_array_equal(ours[0], theirs[0])
    warm = snap.passage()
    np.testing.assert_array_equal(
        warm.target_prob,
        forward_passage(
            snap.model, snap.params, snap.vocab, snap.default_text, expected
        ).target_prob,
    )
    assert warm.settled_from == 0  # a carried state needs no settling
    trainer.step()  # training's state moves on; the snapshot keeps its own copy
    typed = snap.passage("line 9")  # anything else is read from training's state
    carried = forward_passage(snap.model, snap.params, snap.vocab, "line 9", snap.state)
    np.testing.assert_array_equal(typed.target_prob, carried.target_prob)
    assert snap.state is not None and typed.settled_from == 0


# -- one training step, observed ------------------------------------------------------------------


def trainer_for(**changes) -> Trainer:
    config = Config(
        cell="lstm", hidden=8, seq_length=6, batch=2, optimizer="adam", lr=0.01, loss="mean"
    ).replace(**changes)
    return Trainer(config, TEXT * 10, seed=3)


def test_a_statistics_step_is_exactly_one_training_step() -> None:
    trainer = trainer_for(layers=2, dropout=0.3, clip_norm=1.0)
    for _ in range(3):
        trainer.step()
    twin = copy.deepcopy(trainer)
    result, stats = step_statistics(trainer)
    expected = twin.step()
    assert trainer.iteration == twin.iteration == 4
    assert stats.iteration == result.iteration == expected.iteration == 3
    assert result.loss == expected.loss and trainer.smooth_loss == twin.smooth_loss
    for name, value in twin.params.items():
        np.testing.assert_array_equal(trainer.params[name], value)
    for name, value in twin.optimizer.state.items():
        np.testing.assert_array_equal(trainer.optimizer.state[name], value)
    assert trainer.rng.bit_generator.state == twin.rng.bit_generator.state
    assert trainer.stream.position == twin.stream.position
    assert type(trainer.model) is CharModel and type(trainer.optimizer) is type(twin.optimizer)
    assert trainer.optimizer.lr == twin.optimizer.lr


def test_step_statistics_are_the_windows_own_gradients_and_updates() -> None:
    trainer = trainer_for(clip=0.0, clip_norm=0.0)
    trainer.step()
    twin = copy.deepcopy(trainer)
    inputs, targets, reset = twin.stream.next_window()
    state = twin.model.zero_state(2) if reset else twin.state
    fwd, grads, _ = twin.model.loss_and_grads(twin.params, inputs, targets, state, twin.rng)
    _, stats = step_statistics(trainer)
    assert {p.name for p in stats.params} == set(grads)
    for p in stats.params:
        g = grads[p.name]
        assert p.grad_norm == pytest.approx(np.linalg.norm(g), rel=1e-9)
        assert p.grad_max == pytest.approx(np.abs(g).max(), rel=1e-12)
        assert not p.clipped
        change = np.linalg.norm(trainer.params[p.name] - twin.params[p.name])
        size = np.linalg.norm(twin.params[p.name])
        assert p.update_ratio == (pytest.approx(change / size) if size else np.inf)
    assert stats.global_norm == pytest.approx(np.sqrt(sum(np.vdot(g, g) for g in grads.values())))
    assert stats.loss_before == fwd.nats_per_char
    after, _ = twin.model.forward(trainer.params, inputs, targets, state)
    assert stats.loss_after == pytest.approx(after.nats_per_char, rel=1e-12)
    assert stats.loss_after < stats.loss_before  # one Adam step on its own window helps it
    assert stats.lr == trainer.optimizer.lr


def test_step_statistics_say_which_gradients_clipping_changed() -> None:
    trainer = trainer_for(clip=0.05)
    twin = copy.deepcopy(trainer)
    inputs, targets, _ = twin.stream.next_window()
    _, grads, _ = twin.model.loss_and_grads(twin.params, inputs, targets, twin.model.zero_state(2))
    _, stats = step_statistics(trainer)
    flags = {p.name: p.clipped for p in stats.params}
    assert flags == {name: bool((np.abs(g) > 0.05).any()) for name, g in grads.items()}
    assert any(flags.values()) and not all(flags.values())  # the case has teeth both ways
    _, stats = step_statistics(trainer_for(clip=0.0, clip_norm=1e-3))
    assert all(p.clipped for p in stats.params)  # a global-norm clip scales every gradient


def test_loss_after_reuses_the_steps_dropout_masks() -> None:
    trainer = trainer_for(layers=2, dropout=0.5, lr=1e-9)
    _, stats = step_statistics(trainer)
    assert stats.loss_after == pytest.approx(stats.loss_before, rel=1e-6)


class WritesRecorded(Trainer):
    """A trainer that notes every assignment to its model or optimizer once it has one."""

    writes: list[str]

    def __setattr__(self, name: str, value: object) -> None:
        if name in ("model", "optimizer") and name in self.__dict__:
            self.__dict__.setdefault("writes", []).append(name)
        super().__setattr__(name, value)


def test_step_statistics_watch_the_step_without_swapping_the_trainers_parts() -> None:
    """A step watched for statistics runs the trainer's own model and optimizer: nothing
    stands in for them, even for a moment (another thread reading them meanwhile would
    otherwise meet the stand-ins)."""
    trainer = WritesRecorded(trainer_for(layers=2, dropout=0.3).config, TEXT * 10, seed=3)
    model, optimizer = trainer.model, trainer.optimizer
    step_statistics(trainer)
    assert trainer.__dict__.get("writes", []) == []
    assert trainer.model is model and trainer.optimizer is optimizer


# -- what `charrnn inspect` prints ------------------------------------------------------------------


def test_visible_characters() -> None:
    cases = {
        " ": "·",
        "\n": "⏎",
        "\t": "→",
        "\x1b": "␛",
        "\x00": "␀",
        "\x7f": "␡",
        "\x85": "\\x85",
        "\u00a0": "⍽",
        "\u200d": "\\u200d",
        "a": "a",
        "é": "é",
        "風": "風",
    }
    assert {ch: inspect_text.visible(ch) for ch in cases} == cases
    for code in [*range(0x300), *range(0x2000, 0x2070), 0x3000, 0xFEFF]:
        shown = inspect_text.visible(chr(code))
        assert cell_len(shown) >= 1, hex(code)
        assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in shown), hex(code)


def test_layout_rows_wrap_at_the_width_and_end_at_newlines() -> None:
    text = "ab cd\n風風風 efghijklmnop\n\nq"
    rows = inspect_text.layout_rows(text, width=7)
    assert rows[0] == (0, 6)  # through the newline
    assert [i for a, b in rows for i in range(a, b)] == list(range(len(text)))
    for a, b in rows:
        shown = "".join(inspect_text.visible(c) for c in text[a:b])
        assert cell_len(shown) <= 7
        assert "\n" not in text[a : b - 1]


def passage_with_controls():
    text = "a b\tc\x1bd\x85e\nfa b"
    vocab = Vocab.from_text(text)
    model, params = model_for("lstm", vocab)
    return forward_passage(model, params, vocab, text, top_k=3)


def test_prediction_table_shows_every_character_visibly_and_colours_only_when_asked() -> None:
    passage = passage_with_controls()
    plain = inspect_text.render_predictions(passage, color=False)
    lines = plain.split("\n")
    assert len(lines) == 2 + len(passage)  # summary, header, one row per character
    assert "\x1b" not in plain and "\x85" not in plain and "\t" not in plain
    for t, line in enumerate(lines[2:]):
        assert line.split()[0] == str(t)
        if t:
            assert f"{passage.target_prob[t - 1]:6.3f}" in line
    assert "␛" in plain and "\\x85" in plain and "→" in plain and "⏎" in plain and "·" in plain
    coloured = inspect_text.render_predictions(passage, color=True)
    assert "\x1b[" in coloured and "48;5;" in coloured  # 256-colour backgrounds


def test_unit_strip_has_a_bar_under_every_character() -> None:
    passage = passage_with_controls()
    out = inspect_text.render_unit(passage, inspect_text.UnitRef(0, 2, "c"), width=8)
    head, *rows = out.split("\n")
    assert head.startswith("layer 0 · c unit 2 · r = ")
    for chars, bars in zip(rows[::2], rows[1::2], strict=True):
        assert cell_len(chars) == cell_len(bars)
        assert set(bars) <= set(inspect_text.BARS)
    assert sum(cell_len(r) for r in rows[1::2]) == sum(
        cell_len(inspect_text.visible(c)) for c in passage.text
    )


def test_bad_unit_specifications_are_named() -> None:
    passage = passage_with_controls()
    cases = {
        "x": "expected LAYER:N",
        "0": "expected LAYER:N",
        "-1:2": "expected LAYER:N",
        "0:7": "unit 7 does not exist",
        "2:0": "layer 2 does not exist",
        "0:1:q": "have no 'q'",
    }
    for spec, words in cases.items():
        with pytest.raises(CharrnnError, match=words) as info:
            inspect_text.parse_unit(spec, passage)
        assert "\n" not in str(info.value)
    assert inspect_text.parse_unit("0:6:f", passage) == inspect_text.UnitRef(0, 6, "f")


def test_finder_and_saturation_tables() -> None:
    passage = passage_with_controls()
    scores = find_units(passage)
    table = inspect_text.render_finder(scores, limit=5).split("\n")
    assert len(table) == 6
    assert table[1].split()[1:4] == ["0", scores[0].kind, str(scores[0].unit)]
    sats = gate_saturation(passage)
    rows = inspect_text.saturation_table(sats).split("\n")
    assert [r.split()[:2] for r in rows[1:]] == [[str(n), g] for n in "01" for g in "ifo"]
    plot = inspect_text.saturation_plot(sats, width=30, height=10)
    assert len(plot) == 10 and max(cell_len(line) for line in plot) <= 30


def test_json_holds_everything_asked_for() -> None:
    passage = passage_with_controls()
    ref = inspect_text.UnitRef(0, 1, "h")
    data = json.loads(
        json.dumps(
            inspect_text.as_json(
                passage,
                unit=ref,
                finder=find_units(passage),
                saturations=gate_saturation(passage),
            )
        )
    )
    assert data["text"] == passage.text
    assert [c["char"] for c in data["chars"]] == list(passage.text)
    assert data["chars"][0]["p"] is None
    assert data["chars"][2]["p"] == pytest.approx(passage.target_prob[1], abs=1e-6)
    assert all(len(c["top"]) == 3 for c in data["chars"])
    assert len(data["unit"]["values"]) == len(passage)
    assert {g["gate"] for g in data["gates"]} == {"i", "f", "o"}
    assert len(data["finder"]) == 2 * 2 * 7  # h and c of two layers of 7


@pytest.fixture
def saved(tmp_path, blog_text):
    trainer = Trainer(
        Config(cell="gru", hidden=10, seq_length=8), blog_text, seed=1, corpus_name="blog_sample"
    )
    trainer.train(3)
    return checkpoint.save(trainer, tmp_path / "model.npz")


def test_report_on_a_checkpoint(saved, tmp_path) -> None:
    table = inspect_text.report(str(saved))  # the bundled corpus gives the default passage
    assert table.split("\n")[1].split()[:3] == ["#", "char", "p"]
    out = inspect_text.report(str(saved), text="the net", unit="0:3", find=True, gates=True)
    assert "layer 0 · h unit 3" in out and "rank" in out and "units mostly" in out
    data = json.loads(inspect_text.report(str(saved), text="the net", json_out=True, top_k=2))
    assert len(data["chars"]) == 7 and len(data["chars"][0]["top"]) == 2
    passage_file = tmp_path / "passage.txt"
    passage_file.write_text("a net")
    assert "5 characters" in inspect_text.report(str(saved), text_file=str(passage_file))


def test_report_errors_are_one_line(saved, tmp_path) -> None:
    not_a_checkpoint = tmp_path / "junk.npz"
    not_a_checkpoint.write_text("hello")
    cases = {
        "outside the model's vocabulary": {"text": "QQQ~"},
        "not both": {"text": "a", "text_file": str(saved)},
        "no such file": {"text_file": str(tmp_path / "missing.txt")},
        "unit 10 does not exist": {"text": "the", "unit": "0:10"},
        "top-k must be at least 1": {"text": "the", "top_k": 0},
    }
    for words, options in cases.items():
        with pytest.raises(CharrnnError, match=words) as info:
            inspect_text.report(str(saved), **options)
        assert "\n" not in str(info.value)
    with pytest.raises(CharrnnError, match="not a charrnn checkpoint"):
        inspect_text.report(str(not_a_checkpoint), text="a")


def test_a_passage_file_too_long_to_inspect_is_refused_in_one_line(capsys, saved, tmp_path) -> None:
    """A 5 MB --text-file reached 9.9 GB and ran on: now refused unread, by its size. One
    just over the limit (its size could not tell) is read, then refused."""
    huge, just_over = tmp_path / "huge.txt", tmp_path / "over.txt"
    huge.write_text("the net " * 625_000)
    just_over.write_text("a" * (MAX_PASSAGE_CHARS + 1))
    status, out, err = run(capsys, "inspect", str(saved), "--text-file", str(huge))
    assert_clean_error(status, out, err, f"{huge} is 5,000,000 bytes, too long a passage",
                       f"inspect reads at most {MAX_PASSAGE_CHARS:,} characters")  # fmt: skip
    status, out, err = run(capsys, "inspect", str(saved), "--text-file", str(just_over))
    assert_clean_error(status, out, err, f"the passage is {MAX_PASSAGE_CHARS + 1:,} characters")
    status, out, _ = run_exit(capsys, "inspect", "--help")
    assert f"at most {MAX_PASSAGE_CHARS:,} characters" in " ".join(out.split())
