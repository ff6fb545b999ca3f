"""The one-row sampler: the same model as the batched forward pass, the exact softmax
distribution (temperature, top-k), greedy as argmax, the start-state rule, streaming, and
prime files."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

import corpora
from engine.config import preset
from engine.errors import CharrnnError
from engine.limits import MAX_SAMPLE_LENGTH
from engine.model import CharModel
from engine.sampling import (
    Chooser,
    RowModel,
    SampleSettings,
    generate,
    next_distribution,
    noise_rows,
    read_prime_file,
    sample_text,
    start_state,
    stream_sample,
)
from engine.trainer import Trainer

DRAWS = 100_000
LOGITS = np.array([2.0, 1.5, 0.3, -0.4, 1.0, -1.2, 0.8, 0.0])


# -- the one-row model is the batched model ---------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},  # classic: rnn, one-hot, float64
        {"cell": "lstm", "dtype": "float32"},
        {"cell": "gru", "dtype": "float32"},
        {"cell": "lstm", "layers": 2, "embedding": 5},
        {"cell": "gru", "layers": 2, "embedding": 5},
        {"cell": "rnn", "layers": 3, "embedding": 4, "dtype": "float32"},
        # cells without a row_step of their own: the batched forward pass, a step at a time
        {"cell": "textbook-rnn"},
        {"cell": "textbook-lstm", "layers": 2, "embedding": 5},
        {"cell": "textbook-gru", "dtype": "float32"},
    ],
)
def test_row_steps_match_the_batched_forward_pass(changes: dict) -> None:
    config = preset("classic").replace(hidden=12, init_scale=0.5, **changes)
    vocab_size, steps = 9, 15
    model = CharModel(config, vocab_size)
    params = model.init_params(4)
    rs = np.random.RandomState(1)
    params = {k: (v + rs.randn(*v.shape) * 0.3).astype(v.dtype) for k, v in params.items()}
    state = [tuple(rs.randn(*a.shape).astype(a.dtype) for a in s) for s in model.zero_state(1)]
    ids = rs.randint(vocab_size, size=steps)

    top, _, want_state = model.forward_layers(params, ids[:, None], state)
    want = model.logits(params, top)[:, 0]
    rows = RowModel(model, params, state)
    got = np.array([rows.logits_after(int(i)).copy() for i in ids])

    tol = 1e-10 if config.dtype == "float64" else 2e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    for got_layer, want_layer in zip(rows.state(), want_state, strict=True):
        for g, w in zip(got_layer, want_layer, strict=True):
            assert g.shape == w.shape == (1, config.hidden)
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


# -- the distribution ------------------------------------------------------------------------


def softmax_reference(logits: np.ndarray, temperature: float, top_k: int) -> np.ndarray:
    """Written out plainly: exp(logit / T) over the k largest, normalised."""
    p = np.exp(logits / temperature)
    if top_k:
        p[np.argsort(logits)[:-top_k]] = 0
    return p / p.sum()


def chi_square_limit(dof: int, alpha: float = 1e-4) -> float:
    """The chi-square quantile 1 - alpha (Wilson-Hilferty), alpha = 1e-4 for z = 3.719."""
    z = {1e-4: 3.719}[alpha]
    return dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3


def draws(logits: np.ndarray, n: int, seed: int = 7, **settings) -> np.ndarray:
    """n ids picked from fixed logits: a model whose Why h is 0 and whose output bias is
    `logits`, so every step's logits are these."""
    choose = Chooser(logits, SampleSettings(length=n, **settings), np.random.default_rng(seed))
    return np.array([choose.pick(np.zeros(len(logits)) + choose.offset()) for _ in range(n)])


@pytest.mark.parametrize(
    ("temperature", "top_k"), [(1.0, 0), (0.5, 0), (2.0, 0), (1.0, 3), (0.7, 5)]
)
def test_draws_follow_the_softmax(temperature: float, top_k: int) -> None:
    picked = draws(LOGITS, DRAWS, temperature=temperature, top_k=top_k)
    counts = np.bincount(picked, minlength=len(LOGITS))
    p = softmax_reference(LOGITS, temperature, top_k)

    assert counts[p == 0].sum() == 0  # top-k: never a character outside the k likeliest
    kept = p > 0
    expected = DRAWS * p[kept]
    assert expected.min() >= 5  # the chi-square approximation holds
    chi2 = float(((counts[kept] - expected) ** 2 / expected).sum())
    assert chi2 < chi_square_limit(int(kept.sum()) - 1)


def test_a_wrong_temperature_fails_the_same_check() -> None:
    """The check above can fail: draws at T = 1.1 are not the softmax at T = 1."""
    counts = np.bincount(draws(LOGITS, DRAWS, temperature=1.1), minlength=len(LOGITS))
    expected = DRAWS * softmax_reference(LOGITS, 1.0, 0)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 > chi_square_limit(len(LOGITS) - 1)


def test_the_reference_distribution_is_the_softmax() -> None:
    for temperature, top_k in [(1.0, 0), (0.5, 3), (2.0, 5)]:
        settings = SampleSettings(temperature=temperature, top_k=top_k)
        np.testing.assert_allclose(
            next_distribution(LOGITS, settings), softmax_reference(LOGITS, temperature, top_k)
        )


def test_top_k_keeps_ties_with_the_kth_largest() -> None:
    logits = np.array([1.0, 3.0, 2.0, 2.0, 0.5])
    assert set(draws(logits, 2000, top_k=2)) == {1, 2, 3}
    assert next_distribution(logits, SampleSettings(top_k=2))[[0, 4]].sum() == 0


def test_top_k_at_or_above_the_vocabulary_keeps_everything() -> None:
    for k in (len(LOGITS), len(LOGITS) + 5):
        assert set(draws(LOGITS, 3000, top_k=k)) == set(range(len(LOGITS)))


def test_large_logits_at_low_temperature() -> None:
    logits = np.array([900.0, 899.0, -900.0])
    counts = np.bincount(draws(logits, 20_000, temperature=0.5), minlength=3)
    p1 = 1 / (1 + math.exp(2))  # the second logit's probability at T = 0.5
    binomial_se = math.sqrt(20_000 * p1 * (1 - p1))
    assert abs(counts[1] - 20_000 * p1) < 4 * binomial_se and counts[2] == 0


def test_greedy_picks_the_first_largest_logit() -> None:
    logits = np.array([0.5, 2.0, -1.0, 2.0])
    assert set(draws(logits, 50, greedy=True)) == {1}


def test_a_sample_uses_only_the_noise_it_needs() -> None:
    """Seeded samples are reproducible from the generator's state and consume no more of it
    than their characters need: V uniforms each."""
    used, fresh = np.random.default_rng(5), np.random.default_rng(5)
    choose = Chooser(LOGITS, SampleSettings(length=300), used)
    for _ in range(300):
        choose.pick(np.zeros(len(LOGITS)) + choose.offset())
    fresh.random(300 * len(LOGITS))
    assert used.random() == fresh.random()


# -- whole samples from a model ---------------------------------------------------------------


@pytest.fixture(scope="module")
def trained() -> Trainer:
    corpus = corpora.load("blog_sample")[1]
    config = preset("classic").replace(hidden=24, seq_length=10)
    trainer = Trainer(config, corpus, seed=2, corpus_name="blog_sample")
    trainer.train(300)
    return trainer


def test_greedy_is_the_argmax_of_the_batched_model(trained: Trainer) -> None:
    model, params = trained.model, trained.params
    state = [tuple(a[:1].copy() for a in s) for s in trained.state]
    settings = SampleSettings(length=60, greedy=True)
    got = list(generate(model, params, state, 0, settings, np.random.default_rng()))

    want, x = [], 0
    for _ in range(60):  # the reference: a batched forward pass per character, then argmax
        top, _, state = model.forward_layers(params, np.array([[x]]), state)
        x = int(np.argmax(model.logits(params, top)[0, 0]))
        want.append(x)
    assert got == want


def test_top_k_of_one_is_greedy(trained: Trainer) -> None:
    state = trained.model.zero_state(1)
    args = (trained.model, trained.params, trained.vocab)
    greedy = sample_text(*args, SampleSettings(length=80, greedy=True), None, "this", state)
    top1 = sample_text(
        *args, SampleSettings(length=80, top_k=1), np.random.default_rng(3), "this", state
    )
    assert top1 == greedy


def carried_state(trainer: Trainer) -> list:
    return [tuple(a[:1].copy() for a in s) for s in trainer.state]


def test_a_prime_starts_from_a_zero_state_by_default(trained: Trainer) -> None:
    args = (trained.model, trained.params, trained.vocab, SampleSettings(length=50, greedy=True))
    rng = np.random.default_rng()
    carried = carried_state(trained)
    assert np.abs(carried[0][0]).max() > 0.1  # a real carried state, not zeros
    default = "".join(stream_sample(*args, rng, prime="this", carried=carried))
    zero = "".join(stream_sample(*args, rng, prime="this", carried=carried, start="zero"))
    kept = "".join(stream_sample(*args, rng, prime="this", carried=carried, start="carried"))
    assert default == zero == sample_text(*args, rng, "this", None)
    assert kept == sample_text(*args, rng, "this", carried)
    assert kept != default


def test_without_a_prime_the_carried_state_is_the_default(trained: Trainer) -> None:
    carried = carried_state(trained)
    assert start_state(trained.model, carried, None) is carried
    assert start_state(trained.model, carried, "") is carried
    zero = start_state(trained.model, carried, None, "zero")
    assert all(not a.any() for s in zero for a in s)
    no_carried = start_state(trained.model, None, None, "carried")
    assert all(not a.any() for s in no_carried for a in s)


def test_an_unknown_start_is_refused(trained: Trainer) -> None:
    with pytest.raises(CharrnnError, match="unknown start 'warm' \\(choose from auto, zero"):
        start_state(trained.model, None, None, "warm")


def test_streaming_yields_the_same_text_piece_by_piece(trained: Trainer) -> None:
    args = (trained.model, trained.params, trained.vocab, SampleSettings(length=120))
    pieces = list(stream_sample(*args, np.random.default_rng(9), prime="this"))
    assert pieces[0] == "this" and all(len(p) == 1 for p in pieces[1:])
    assert len(pieces) == 121
    assert "".join(pieces) == sample_text(*args, np.random.default_rng(9), "this", None)


def test_streaming_is_lazy(trained: Trainer) -> None:
    """The first characters of a very long sample arrive before the rest is made: only one
    block of noise has been drawn after five of them."""
    rng, fresh = np.random.default_rng(4), np.random.default_rng(4)
    settings = SampleSettings(length=MAX_SAMPLE_LENGTH)  # the longest there is
    stream = stream_sample(trained.model, trained.params, trained.vocab, settings, rng)
    assert len(list(itertools.islice(stream, 5))) == 5
    fresh.random(noise_rows(len(trained.vocab)) * len(trained.vocab))
    assert rng.random() == fresh.random()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"prime": "Quiz"}, "prime text has characters outside the model's vocabulary: 'Qz'"),
        ({"start": "cold"}, "unknown start 'cold'"),
    ],
)
def test_bad_stream_arguments_fail_before_anything_is_generated(
    trained: Trainer, kwargs: dict, fragment: str
) -> None:
    args = (trained.model, trained.params, trained.vocab, SampleSettings(length=10))
    with pytest.raises(CharrnnError, match=fragment):
        stream_sample(*args, np.random.default_rng(), **kwargs)  # not even iterated


# -- prime files ----------------------------------------------------------------------------


def test_a_prime_file_is_read_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "prime.txt"
    path.write_text("First line,\n  second: ünïcode\n", encoding="utf-8")
    assert read_prime_file(path) == "First line,\n  second: ünïcode\n"


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d / "absent.txt", "does not exist"),
        (lambda d: d, "is a directory"),
        (lambda d: _write(d / "latin1.txt", "caf\xe9".encode("latin-1")), "is not UTF-8 text"),
        (lambda d: _write(d / "empty.txt", b""), "is empty"),
    ],
    ids=["missing", "directory", "not-utf8", "empty"],
)
def test_bad_prime_files(tmp_path: Path, make, fragment: str) -> None:
    with pytest.raises(CharrnnError, match=f"prime file .* {fragment}"):
        read_prime_file(make(tmp_path))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
