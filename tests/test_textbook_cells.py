"""The textbook cells equal the fast ones: outputs, final state, activations, parameter
gradients and the gradients for the incoming state and the inputs, in float64 on random
weights; and a model built on either samples the same text."""

from __future__ import annotations

import numpy as np
import pytest

from engine.cells import CELL_TYPES
from engine.cells.base import has_own_row_step
from engine.config import Config
from engine.model import CharModel
from engine.sampling import SampleSettings, stream_sample
from engine.vocab import Vocab

TWINS = {"rnn": "textbook-rnn", "lstm": "textbook-lstm", "gru": "textbook-gru"}
STEPS, BATCH, HIDDEN = 7, 3, 6
# Both compute the same sums in a different order (fused blocks, whole-window products).
RTOL, ATOL = 1e-12, 1e-13


def run_both(fast_name: str, one_hot: bool, seed: int = 0) -> tuple[dict, dict]:
    """Forward and backward of the fast cell and its twin on the same random window."""
    rs = np.random.RandomState(seed)
    inputs = 5 if one_hot else 4
    fast = CELL_TYPES[fast_name](inputs, HIDDEN, one_hot)
    book = CELL_TYPES[TWINS[fast_name]](inputs, HIDDEN, one_hot)
    params = {k: v + rs.randn(*v.shape) * 0.3 for k, v in fast.init_params(rs, 0.7, "f8").items()}
    if one_hot:
        xs = rs.randint(inputs, size=(STEPS, BATCH))
    else:
        xs = rs.randn(STEPS, BATCH, inputs)
    state = tuple(rs.randn(BATCH, HIDDEN) for _ in fast.state_names)
    dhs = rs.randn(STEPS, BATCH, HIDDEN)
    out = {}
    for key, cell in (("fast", fast), ("book", book)):
        hs, cache, end = cell.forward(params, xs, state)
        grads = {k: np.full_like(v, np.nan) for k, v in params.items()}
        dxs, dstate = cell.backward(params, cache, dhs.copy(), grads)
        out[key] = {
            "hs": hs.copy(),
            "end": end,
            "acts": {k: v.copy() for k, v in cell.activations(cache).items()},
            "grads": grads,
            "dxs": dxs,
            "dstate": dstate,
        }
    return out["fast"], out["book"]


def largest_differences(fast: dict, book: dict) -> dict[str, float]:
    """The largest absolute difference per quantity (what the report quotes)."""
    diff = {"hs": np.abs(fast["hs"] - book["hs"]).max()}
    diff["state"] = max(np.abs(a - b).max() for a, b in zip(fast["end"], book["end"], strict=True))
    diff["grads"] = max(np.abs(fast["grads"][k] - book["grads"][k]).max() for k in fast["grads"])
    diff["dstate"] = max(
        np.abs(a - b).max() for a, b in zip(fast["dstate"], book["dstate"], strict=True)
    )
    if fast["dxs"] is not None:
        diff["dxs"] = np.abs(fast["dxs"] - book["dxs"]).max()
    return {k: float(v) for k, v in diff.items()}


@pytest.mark.parametrize("one_hot", [True, False], ids=["one-hot", "dense"])
@pytest.mark.parametrize("fast_name", TWINS)
def test_textbook_cell_equals_its_fast_twin(fast_name: str, one_hot: bool) -> None:
    fast, book = run_both(fast_name, one_hot)
    np.testing.assert_allclose(book["hs"], fast["hs"], rtol=RTOL, atol=ATOL)
    for a, b in zip(book["end"], fast["end"], strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    assert set(book["acts"]) == set(fast["acts"])
    for name, value in fast["acts"].items():
        np.testing.assert_allclose(book["acts"][name], value, rtol=RTOL, atol=ATOL, err_msg=name)
    for name, g in fast["grads"].items():
        np.testing.assert_allclose(book["grads"][name], g, rtol=1e-10, atol=ATOL, err_msg=name)
    assert len(book["dstate"]) == len(fast["dstate"]) == len(CELL_TYPES[fast_name].state_names)
    for a, b in zip(book["dstate"], fast["dstate"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=ATOL)
    if one_hot:
        assert book["dxs"] is None and fast["dxs"] is None
    else:
        np.testing.assert_allclose(book["dxs"], fast["dxs"], rtol=1e-10, atol=ATOL)


@pytest.mark.parametrize("fast_name", TWINS)
def test_twins_declare_the_same_things(fast_name: str) -> None:
    fast, book = CELL_TYPES[fast_name], CELL_TYPES[TWINS[fast_name]]
    for field in ("activation_names", "gates", "memory", "state_names", "finder_kinds"):
        assert getattr(book, field) == getattr(fast, field), field
    assert (book.weight_blocks, book.equations) == (fast.weight_blocks, fast.equations)
    assert has_own_row_step(fast) and not has_own_row_step(book)


@pytest.mark.parametrize("fast_name", TWINS)
def test_fast_cell_docstrings_point_to_their_twin(fast_name: str) -> None:
    import sys

    doc = sys.modules[CELL_TYPES[fast_name].__module__].__doc__
    assert f"engine/cells/textbook/{fast_name}.py" in doc


@pytest.mark.parametrize("fast_name", TWINS)
def test_a_textbook_model_samples_what_the_fast_model_samples(fast_name: str) -> None:
    """Same seed, same weights: the textbook model samples through the batched forward pass
    one character at a time (it has no row_step), the fast one through its RowStep."""
    text = "the textbook and the fast cell read the same text.\n"
    vocab = Vocab.from_text(text)
    texts = []
    for name in (fast_name, TWINS[fast_name]):
        model = CharModel(Config(cell=name, hidden=12, layers=2, embedding=4), len(vocab))
        params = model.init_params(3)
        for value in params.values():
            value *= 40  # weights large enough that the text is far from uniform noise
        settings = SampleSettings(length=60)
        rng = np.random.default_rng(5)
        texts.append("".join(stream_sample(model, params, vocab, settings, rng, prime="the ")))
    assert texts[0] == texts[1]
    assert len(set(texts[0][4:])) > 3
