"""Every registered cell through the same checks: the built-in ones, their textbook twins and
users' cells loaded from files (tests/fixtures/cells/mgu.py, and lagged.py with three state
arrays). A new cell, registered, is tested here without a line of test code of its own."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from cell_support import FIXTURES, registry_kept

from engine import checkpoint
from engine.cells import BUILT_IN, CELL_TYPES
from engine.cells.user import load_cell_file
from engine.config import Config
from engine.gradcheck import check_cell
from engine.inspect import find_units, forward_passage, gate_saturation
from engine.model import CharModel
from engine.sampling import RowModel, SampleSettings
from engine.trainer import Trainer

USER_CELLS = {"mgu": "mgu.py", "lagged": "lagged.py"}  # name -> file in tests/fixtures/cells
CELLS = (*BUILT_IN, *USER_CELLS)
TEXT = 'He said "quiet (please)" and left.\nShe said "no".\n' * 6


@pytest.fixture(scope="module", autouse=True)
def user_cells() -> Iterator[None]:
    """The users' cells registered for this module's tests only."""
    with registry_kept():
        for name, file in USER_CELLS.items():
            assert load_cell_file(str(FIXTURES / file)).name == name
        yield


def test_the_cells_under_test_are_every_registered_cell() -> None:
    assert set(CELLS) == set(CELL_TYPES)
    assert {"rnn", "lstm", "gru", "textbook-lstm", "mgu", "lagged"} <= set(CELLS)


@pytest.mark.parametrize("cell", CELLS)
def test_gradcheck_passes(cell: str) -> None:
    config = Config(cell=cell, hidden=5, seq_length=4, layers=2, embedding=3)
    report = check_cell(config)
    assert report.ok, report.failures()
    names = {g.name for s in report.sections for g in s.gradients}
    assert {f"d state {n}" for n in CELL_TYPES[cell].state_names} <= names
    assert {"d inputs", "l1.bf" if cell == "mgu" else "Why"} <= names


@pytest.mark.parametrize("cell", CELLS)
def test_row_steps_follow_the_batched_forward_pass(cell: str) -> None:
    config = Config(cell=cell, hidden=7, layers=2, embedding=4, init_scale=0.5)
    model = CharModel(config, vocab_size=8)
    params = model.init_params(1)
    ids = np.random.RandomState(2).randint(8, size=12)
    top, _, want_state = model.forward_layers(params, ids[:, None], model.zero_state(1))
    rows = RowModel(model, params, model.zero_state(1))
    got = np.array([rows.logits_after(int(i)).copy() for i in ids])
    np.testing.assert_allclose(got, model.logits(params, top)[:, 0], rtol=1e-10, atol=1e-12)
    for got_layer, want_layer in zip(rows.state(), want_state, strict=True):
        for g, w in zip(got_layer, want_layer, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_save_and_resume_are_bit_exact_and_the_model_samples(cell: str, tmp_path) -> None:
    config = Config(cell=cell, hidden=8, seq_length=6, batch=2, layers=2, dropout=0.2, loss="mean")
    straight = Trainer(config, TEXT, seed=4)
    straight.train(6)
    first = Trainer(config, TEXT, seed=4)
    first.train(3)
    path = checkpoint.save(first, tmp_path / "run.npz")
    resumed = checkpoint.restore(checkpoint.load(path), TEXT, "corpus")
    resumed.train(3)
    for name, value in straight.params.items():
        np.testing.assert_array_equal(resumed.params[name], value, err_msg=name)
    model, _ = checkpoint.load_model(checkpoint.load(path))
    assert model.config.cell == cell
    text = resumed.sample(SampleSettings(length=30), prime="He ")
    assert text.startswith("He ") and len(text) == 33


@pytest.mark.parametrize("cell", CELLS)
def test_inspect_reads_what_the_cell_declares(cell: str) -> None:
    cls = CELL_TYPES[cell]
    trainer = Trainer(Config(cell=cell, hidden=6, layers=2, seq_length=8), TEXT, seed=1)
    trainer.train(2)
    passage = forward_passage(trainer.model, trainer.params, trainer.vocab, TEXT[:80])
    for layer in passage.layers:
        assert set(layer) == set(cls.activation_names)
        assert all(a.shape == (80, 6) for a in layer.values())
    found = find_units(passage)
    assert {s.kind for s in found} == set(cls.finder_kinds)
    assert len(found) == 2 * 6 * len(cls.finder_kinds)
    saturation = gate_saturation(passage)
    assert [(s.layer, s.gate) for s in saturation] == [
        (layer, gate) for layer in range(2) for gate in cls.gates
    ]
    assert all(((s.low >= 0) & (s.high <= 1)).all() for s in saturation)
