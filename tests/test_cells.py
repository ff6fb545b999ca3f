"""The recurrent cells: gradients, stacking, embedding, dropout, batching and dtypes."""

from __future__ import annotations

import re

import numpy as np
import pytest

from engine import checkpoint, gradcheck
from engine.cells import CELL_TYPES
from engine.cells.ops import dot_last, scatter_rows, sum_rows
from engine.config import CELLS, Config
from engine.errors import CharrnnError
from engine.model import CharModel
from engine.sampling import SampleSettings
from engine.trainer import Trainer
from tui.cli import main

TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n" * 4

VARIANTS = {
    "one-hot": {},
    "stacked": {"layers": 2},
    "embedding": {"embedding": 5},
    "embedding-stacked": {"embedding": 4, "layers": 2},
    "stacked-dropout": {"layers": 2, "dropout": 0.4},
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("cell", CELLS)
def test_gradients_match_central_differences(cell: str, variant: str) -> None:
    config = Config(cell=cell, hidden=6, seq_length=5, **VARIANTS[variant])
    results = gradcheck.check(config)
    weights = CELL_TYPES[cell](3, 6, one_hot=True).init_params(np.random.RandomState(0), 1, "f8")
    expected = {"Why", "by"} | {f"l{i}.{w}" for i in range(config.layers) for w in weights}
    assert expected <= {r.name for r in results}
    assert ("E" in {r.name for r in results}) == bool(config.embedding)
    bad = {r.name: r.rel_error for r in results if not r.ok}
    assert not bad


@pytest.mark.parametrize("cell", CELLS)
def test_batched_gradients_are_the_mean_of_single_stream_gradients(cell: str) -> None:
    config = Config(cell=cell, hidden=5, seq_length=4, layers=2, embedding=3, loss="mean")
    model = CharModel(config, vocab_size=6)
    params = model.init_params(0)
    for name in params:  # larger weights than training's so the test has teeth
        params[name] *= 30
    rs = np.random.RandomState(1)
    batch = 3
    inputs = rs.randint(6, size=(4, batch))
    targets = rs.randint(6, size=(4, batch))
    state = [tuple(rs.randn(*a.shape) for a in s) for s in model.zero_state(batch)]
    fwd, grads, _ = model.loss_and_grads(params, inputs, targets, state)

    singles = []
    losses = []
    for b in range(batch):
        one_state = [tuple(a[b : b + 1] for a in s) for s in state]
        f, g, _ = model.loss_and_grads(
            params, inputs[:, b : b + 1], targets[:, b : b + 1], one_state
        )
        singles.append({k: v.copy() for k, v in g.items()})
        losses.append(f.loss)
    assert fwd.loss == pytest.approx(np.mean(losses), rel=1e-12)
    for name, g in grads.items():
        mean = np.mean([s[name] for s in singles], axis=0)
        np.testing.assert_allclose(g, mean, rtol=1e-10, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_configs_stay_float32(cell: str) -> None:
    config = Config(
        cell=cell,
        hidden=8,
        seq_length=6,
        batch=3,
        layers=2,
        embedding=4,
        dropout=0.2,
        dtype="float32",
        loss="mean",
    )
    trainer = Trainer(config, TEXT, seed=0)
    inputs, targets, _ = trainer.stream.next_window()
    fwd, grads, state = trainer.model.loss_and_grads(
        trainer.params, inputs, targets, trainer.state, trainer.rng
    )
    assert fwd.probs.dtype == np.float32
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}
    assert {a.dtype for s in state for a in s} == {np.dtype(np.float32)}
    trainer.train(3)
    assert {p.dtype for p in trainer.params.values()} == {np.dtype(np.float32)}


def test_lstm_forget_gate_bias_starts_at_one() -> None:
    params = CharModel(Config(cell="lstm", hidden=4), vocab_size=5).init_params(0)
    gates = params["l0.b"].reshape(4, 4)  # o, i, f, g
    np.testing.assert_array_equal(gates, [[0] * 4, [0] * 4, [1] * 4, [0] * 4])


@pytest.mark.parametrize("cell", CELLS)
def test_state_carries_across_windows(cell: str) -> None:
    """Two windows run one after the other give what one long window gives."""
    model = CharModel(Config(cell=cell, hidden=5, layers=2, embedding=3), vocab_size=6)
    params = model.init_params(0)
    for name in params:
        params[name] *= 30
    ids = np.random.RandomState(2).randint(6, size=(8, 2))
    whole, _, whole_state = model.forward_layers(params, ids, model.zero_state(2))
    first, _, state = model.forward_layers(params, ids[:3], model.zero_state(2))
    second, _, state = model.forward_layers(params, ids[3:], state)
    np.testing.assert_allclose(np.concatenate([first, second]), whole, rtol=1e-12)
    for a, b in zip(state, whole_state, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_dropout_only_when_training() -> None:
    model = CharModel(Config(cell="lstm", hidden=6, layers=3, dropout=0.5), vocab_size=6)
    params = model.init_params(0)
    ids = np.random.RandomState(3).randint(6, size=(5, 2))
    plain = model.forward_layers(params, ids, model.zero_state(2))[0]
    again = model.forward_layers(params, ids, model.zero_state(2))[0]
    np.testing.assert_array_equal(plain, again)
    rng = np.random.default_rng(0)
    dropped = model.forward_layers(params, ids, model.zero_state(2), rng)
    assert not np.allclose(dropped[0], plain)
    masks = dropped[1].masks
    assert masks[0] is None and all(m is not None for m in masks[1:])
    assert set(np.unique(masks[1])) == {0.0, 2.0}  # inverted: kept units scaled by 1/(1-p)


@pytest.mark.parametrize("cell", CELLS)
def test_resume_is_exact_for_every_cell(cell: str, tmp_path) -> None:
    config = Config(
        cell=cell,
        hidden=8,
        seq_length=6,
        batch=2,
        layers=2,
        embedding=4,
        dropout=0.3,
        loss="mean",
    )
    straight = Trainer(config, TEXT, seed=5)
    straight.train(6)
    first = Trainer(config, TEXT, seed=5)
    first.train(3)
    path = checkpoint.save(first, tmp_path / "run.npz")
    resumed = checkpoint.restore(checkpoint.load(path), TEXT, "corpus")
    resumed.train(3)
    for name, value in straight.params.items():
        np.testing.assert_array_equal(resumed.params[name], value, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_samples_from_a_checkpoint(cell: str, tmp_path) -> None:
    trainer = Trainer(Config(cell=cell, hidden=8, layers=2, embedding=3, seq_length=6), TEXT)
    trainer.train(2)
    ckpt = checkpoint.load(checkpoint.save(trainer, tmp_path / "m.npz"))
    model, params = checkpoint.load_model(ckpt)
    assert model.config.cell == cell
    for name, value in trainer.params.items():
        np.testing.assert_array_equal(params[name], value)
    text = trainer.sample(SampleSettings(length=20), prime="the")
    assert text.startswith("the") and len(text) == 23


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cell": "transformer"}, "unknown cell 'transformer'"),
        ({"embedding": -1}, "embedding must be 0"),
        ({"dropout": 1.0}, "dropout must be in [0, 1)"),
        ({"dropout": -0.1}, "dropout must be in [0, 1)"),
    ],
)
def test_bad_cell_settings_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(CharrnnError, match=re.escape(message)):
        Config().replace(**changes)


def test_saturated_gates_stay_finite_and_quiet() -> None:
    """Huge pre-activations overflow exp inside sigmoid; the gates must saturate to exactly
    0 or 1 without warnings or NaNs."""
    import warnings

    for cell in ("lstm", "gru"):
        model = CharModel(Config(cell=cell, hidden=4, dtype="float32"), vocab_size=5)
        params = model.init_params(0)
        for name in params:
            params[name] *= 1e4
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            top, _, state = model.forward_layers(
                params, np.arange(5)[:, None] % 5, model.zero_state(1)
            )
        assert np.isfinite(top).all() and all(np.isfinite(a).all() for a in state)


def test_row_helpers_match_their_plain_numpy_meaning() -> None:
    rs = np.random.RandomState(0)
    ids = rs.randint(6, size=(7, 3))
    rows = rs.randn(21, 4)
    expected = np.zeros((6, 4))
    np.add.at(expected, ids.reshape(-1), rows)
    np.testing.assert_allclose(scatter_rows(ids, rows, 6, out=np.empty((6, 4))), expected)
    np.testing.assert_allclose(sum_rows(rows, out=np.empty(4)), rows.sum(0))
    x = rs.randn(2, 3, 4)
    w = rs.randn(4, 5)
    np.testing.assert_allclose(dot_last(x, w), x @ w)


@pytest.mark.parametrize(
    "argv",
    [
        ["gradcheck", "--cell", "lstm", "--layers", "2"],
        ["gradcheck", "--cell", "gru", "--embedding", "3", "--dropout", "0.3", "--layers", "2"],
    ],
)
def test_gradcheck_command_passes(argv: list[str], capsys) -> None:
    assert main(argv) == 0
    assert "all" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gradcheck", "--cell", "transformer"], "invalid choice: 'transformer'"),
        (["gradcheck", "--layers", "0"], "--layers: must be 1 or more"),
        (["gradcheck", "--dropout", "1"], "--dropout: must be a number in [0, 1)"),
    ],
)
def test_gradcheck_command_refuses_bad_settings(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
