"""The running average of the weights (--average, engine/averaging.py): what it computes,
that sampling, evaluation, inspection and `charrnn sample` use it, and that checkpoints keep
it so a resumed run continues the same average."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine import checkpoint
from engine.averaging import PREFIX
from engine.config import Config
from engine.evaluate import validation_loss
from engine.inspect import step_statistics, take_snapshot
from engine.sampling import SampleSettings
from engine.trainer import Trainer
from tui.cli import main

TEXT = "".join(f"{i} green bottles hanging on the wall, and {i % 4} fell.\n" for i in range(80))
DECAY = 0.9


def averaged_config(**changes) -> Config:
    return Config(
        cell="gru", hidden=12, embedding=6, seq_length=8, batch=4, dtype="float32",
        loss="mean", optimizer="adam", lr=0.01, val_fraction=0.2, average=DECAY, **changes,
    )  # fmt: skip


def test_the_average_follows_the_trained_weights_with_a_warm_up() -> None:
    trainer = Trainer(averaged_config(), TEXT)
    expected = {k: v.astype(np.float64) for k, v in trainer.params.items()}
    for t in range(1, 31):
        trainer.step()
        keep = min(DECAY, (1 + t) / (10 + t))  # the first steps keep less of the old average
        for name, value in trainer.params.items():
            expected[name] += (1 - keep) * (value - expected[name])
    for name, value in expected.items():
        np.testing.assert_allclose(trainer.weights[name], value, rtol=1e-4, atol=1e-6)
        assert not np.array_equal(trainer.weights[name], trainer.params[name]), name


def test_without_average_the_weights_are_the_trained_ones() -> None:
    trainer = Trainer(averaged_config().replace(average=0.0), TEXT)
    trainer.train(3)
    assert trainer.weights is trainer.params
    assert not any(k.startswith(PREFIX) for k in trainer.optimizer.state)


def test_evaluation_and_samples_use_the_average() -> None:
    trainer = Trainer(averaged_config(), TEXT)
    trainer.train(40)
    val = trainer.evaluate()
    assert val == validation_loss(trainer.model, trainer.weights, trainer.val_ids)
    assert val != validation_loss(trainer.model, trainer.params, trainer.val_ids)

    # The same sample as the averaged weights give when they are the trained ones.
    settings = SampleSettings(length=40)
    twin = Trainer(averaged_config(), TEXT)
    twin.train(40)
    for name, value in twin.weights.items():
        twin.params[name][...] = value
    twin.weights = twin.params
    rng = np.random.default_rng(5)
    assert trainer.sample(settings, rng=rng) == twin.sample(settings, rng=np.random.default_rng(5))


def test_inspection_shows_the_average() -> None:
    trainer = Trainer(averaged_config(), TEXT)
    trainer.train(10)
    snapshot = take_snapshot(trainer, length=20)
    for name, value in trainer.weights.items():
        np.testing.assert_array_equal(snapshot.params[name], value)


def test_the_backprop_view_s_step_moves_the_average_as_a_plain_step_does() -> None:
    watched, plain = Trainer(averaged_config(), TEXT), Trainer(averaged_config(), TEXT)
    watched.train(5)
    plain.train(5)
    step_statistics(watched)  # the inspect screen's `.`: the step, watched by an observer
    plain.step()
    for name, value in plain.weights.items():
        np.testing.assert_array_equal(watched.weights[name], value)
    assert int(watched.optimizer.state["average_steps"]) == 6


def test_checkpoints_keep_the_average_and_resume_it_exactly(tmp_path: Path) -> None:
    straight = Trainer(averaged_config(), TEXT, seed=3)
    straight.train(25)
    first = Trainer(averaged_config(), TEXT, seed=3)
    first.train(10)
    path = checkpoint.save(first, tmp_path / "m.npz")

    _, weights = checkpoint.load_model(checkpoint.load(path))  # what `charrnn sample` reads
    for name, value in first.weights.items():
        np.testing.assert_array_equal(weights[name], value)

    resumed = checkpoint.restore(checkpoint.load(path), TEXT, "bottles")
    resumed.train(15)
    for name, value in straight.weights.items():
        np.testing.assert_array_equal(resumed.weights[name], value)
        np.testing.assert_array_equal(resumed.params[name], straight.params[name])


def save_averaged(tmp_path: Path) -> Path:
    trainer = Trainer(averaged_config(), TEXT)
    trainer.train(5)
    return checkpoint.save(trainer, tmp_path / "m.npz")


def test_the_average_cannot_be_changed_on_resume(capsys, tmp_path: Path) -> None:
    path = save_averaged(tmp_path)
    corpus = tmp_path / "bottles.txt"
    corpus.write_text(TEXT)
    before = path.read_bytes()
    status = main(["train", str(corpus), "--headless", "--resume", str(path), "--average", "0.5"])
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--average 0.5 (checkpoint: 0.9)" in err
    assert path.read_bytes() == before


def drop_the_average(path: Path) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if not k.startswith("optim/average.")}
    np.savez(path, **arrays)


def test_a_checkpoint_missing_its_average_is_refused_cleanly(capsys, tmp_path: Path) -> None:
    path = save_averaged(tmp_path)
    drop_the_average(path)
    assert json.loads(np.load(path)["meta"].tobytes())["config"]["average"] == DECAY
    status = main(["sample", str(path)])
    out, err = capsys.readouterr()
    assert status != 0 and out == ""
    assert err.count("\n") == 1 and "corrupt or mismatched checkpoint" in err
    assert "Traceback" not in err
