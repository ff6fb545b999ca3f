"""Presets and the hyper-parameter flags of `charrnn train`: overrides, errors, resume rules."""

from __future__ import annotations

import pytest

from engine import checkpoint
from engine.config import PRESETS, Config, preset
from tui.cli import main

CORPUS_TEXT = "".join(
    f"{i} little pigs went to market, and {i + 1} stayed home.\n" for i in range(80)
)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "pigs.txt"
    path.write_text(CORPUS_TEXT, encoding="utf-8")
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_classic_is_the_default_config_and_unchanged() -> None:
    c = preset("classic")
    assert c == Config()
    assert (c.cell, c.hidden, c.seq_length, c.batch, c.lr, c.optimizer) == (
        "rnn",
        100,
        25,
        1,
        0.1,
        "adagrad",
    )
    assert (c.clip, c.clip_norm, c.lr_decay, c.loss, c.dtype, c.val_fraction) == (
        5.0, 0.0, 1.0, "sum", "float64", 0.0
    )  # fmt: skip


@pytest.mark.parametrize("name", [n for n in PRESETS if n != "classic"])
def test_other_presets_are_fast_and_validated(name: str) -> None:
    c = preset(name)
    assert c.validate() is c
    assert c.dtype == "float32" and c.loss == "mean" and c.batch > 1
    assert c.val_fraction == 0.1 and c.eval_every > 0


def test_train_help_lists_each_preset_with_what_it_sets(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    listing = capsys.readouterr().out.split("presets:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listing] == list(PRESETS)
    long_line = next(line for line in listing if line.split()[0] == "long")
    assert "GRU 2x192" in long_line and "dropout 0.2" in long_line and "embed 48" in long_line


BAD = [
    (["--hidden", "0"], "--hidden: must be 1 or more"),
    (["--hidden", "-3"], "--hidden: must be 1 or more"),
    (["--layers", "0"], "--layers: must be 1 or more"),
    (["--seq-length", "0"], "--seq-length: must be 1 or more"),
    (["--batch", "-1"], "--batch: must be 1 or more"),
    (["--batch", "2.5"], "--batch: must be a whole number"),
    (["--cell", "transformer"], "--cell: invalid choice: 'transformer'"),
    (["--optimizer", "sgd"], "--optimizer: invalid choice: 'sgd'"),
    (["--dtype", "float16"], "--dtype: invalid choice: 'float16'"),
    (["--lr", "0"], "--lr: must be a positive number"),
    (["--lr", "fast"], "--lr: must be a positive number (got 'fast')"),
    (["--lr", "nan"], "--lr: must be a positive number (got 'nan')"),
    (["--clip", "-1"], "--clip: must be 0 or more"),
    (["--clip-norm", "-0.5"], "--clip-norm: must be 0 or more"),
    (["--lr-decay", "0"], "--lr-decay: must be above 0 and at most 1"),
    (["--lr-decay", "1.5"], "--lr-decay: must be above 0 and at most 1"),
    (["--lr-decay-every", "0"], "--lr-decay-every: must be 1 or more"),
    (["--val-fraction", "1"], "--val-fraction: must be a number in [0, 1)"),
    (["--eval-every", "-2"], "--eval-every: must be 0 or more"),
    (["--beta2", "1"], "--beta2: must be a number in [0, 1)"),
    (["--average", "1"], "--average: must be a number in [0, 1)"),
    (["--average", "-0.5"], "--average: must be a number in [0, 1)"),
    (["--dropout", "1.5"], "--dropout: must be a number in [0, 1)"),
    (["--embedding", "-1"], "--embedding: must be 0 or more"),
    (["--init-scale", "0"], "--init-scale: must be a positive number"),
]


@pytest.mark.parametrize(("flags", "message"), BAD, ids=[" ".join(f) for f, _ in BAD])
def test_bad_hyper_parameters_exit_2_with_one_line(capsys, corpus, flags, message) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", corpus, "--headless", "--iters", "1", *flags])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and message in err
    assert "Traceback" not in err


def test_a_batch_larger_than_the_corpus_allows(capsys, corpus) -> None:
    status, _, err = run(capsys, "train", corpus, "--headless", "--iters", "1", "--batch", "500")
    assert status == 2
    assert err.count("\n") == 1
    assert "corpus too short" in err and "batch 500" in err


def test_a_split_leaving_too_little_training_text(capsys, corpus) -> None:
    status, _, err = run(
        capsys, "train", corpus, "--headless", "--iters", "1", "--batch", "60",
        "--seq-length", "50", "--val-fraction", "0.5",
    )  # fmt: skip
    assert status == 2 and "corpus too short" in err and err.count("\n") == 1


def test_flags_override_the_preset_and_the_checkpoint_records_them(
    capsys, corpus, tmp_path
) -> None:
    save = tmp_path / "m.npz"
    status, _, _ = run(
        capsys, "train", corpus, "--headless", "--preset", "rnn-fast", "--iters", "3",
        "--hidden", "24", "--batch", "4", "--seq-length", "10", "--optimizer", "adam",
        "--lr", "0.003", "--clip-norm", "2", "--lr-decay", "0.5", "--lr-decay-every", "2",
        "--sample-every", "0", "--save", str(save),
    )  # fmt: skip
    assert status == 0
    saved = checkpoint.load(save).config
    expected = preset("rnn-fast").replace(
        hidden=24, batch=4, seq_length=10, optimizer="adam", lr=0.003, clip_norm=2.0,
        lr_decay=0.5, lr_decay_every=2,
    )  # fmt: skip
    assert saved == expected


def _train_small(capsys, corpus: str, save, *extra: str) -> None:
    status, _, err = run(
        capsys, "train", corpus, "--headless", "--iters", "2", "--hidden", "16",
        "--batch", "2", "--sample-every", "0", "--save", str(save), *extra,
    )  # fmt: skip
    assert status == 0, err


def test_resume_refuses_flags_that_change_the_architecture(capsys, corpus, tmp_path) -> None:
    save = tmp_path / "m.npz"
    _train_small(capsys, corpus, save)
    status, out, err = run(
        capsys, "train", corpus, "--headless", "--resume", str(save), "--iters", "1",
        "--hidden", "32", "--optimizer", "adam",
    )  # fmt: skip
    assert status == 2 and out == ""
    assert err.count("\n") == 1
    assert "--hidden 32 (checkpoint: 16)" in err and "--optimizer adam" in err


def test_resume_accepts_matching_architecture_and_schedule_changes(
    capsys, corpus, tmp_path
) -> None:
    save = tmp_path / "m.npz"
    _train_small(capsys, corpus, save)
    _train_small(capsys, corpus, save, "--resume", str(save), "--hidden", "16", "--lr", "0.05")
    config = checkpoint.load(save).config
    assert config.hidden == 16 and config.lr == 0.05
    assert checkpoint.load(save).iteration == 4


def test_headless_prints_validation_and_keeps_best_in_run_dir(capsys, corpus, tmp_path) -> None:
    run_dir = tmp_path / "run"
    status, out, err = run(
        capsys, "train", corpus, "--headless", "--preset", "rnn-fast", "--iters", "6",
        "--hidden", "16", "--batch", "4", "--seq-length", "8", "--lr", "0.01",
        "--eval-every", "2", "--sample-every", "0", "--log-every", "2", "--run-dir", str(run_dir),
    )  # fmt: skip
    assert status == 0, err
    val_lines = [line for line in out.splitlines() if "val loss" in line]
    assert [line.split(",")[0] for line in val_lines] == ["iter 0", "iter 2", "iter 4"]
    assert all("nats/char" in line and "bits)" in line for line in val_lines)
    assert "(best)" in val_lines[0]
    assert "iter 2, loss:" in out  # min-char-rnn's line is still there
    best = checkpoint.load(run_dir / "best.npz")
    latest = checkpoint.load(run_dir / "latest.npz")
    assert latest.iteration == 6
    history = latest.arrays["history/val"]
    best_at = int(history[history[:, 1].argmin(), 0])
    assert best.iteration == best_at + 1  # saved right after the evaluating iteration
    assert (run_dir / "metrics.jsonl").read_text().count("val_loss") == 3


def test_headless_full_disk_for_best_checkpoint_warns_and_trains_on(
    capsys, corpus, tmp_path, monkeypatch
) -> None:
    import errno

    from tui.runs import policy as run_policy

    def disk_full(trainer, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_policy.checkpoint, "save", disk_full)
    status, out, err = run(
        capsys, "train", corpus, "--headless", "--preset", "rnn-fast", "--iters", "4",
        "--hidden", "16", "--batch", "4", "--seq-length", "8", "--eval-every", "2",
        "--sample-every", "0", "--run-dir", str(tmp_path / "run"),
    )  # fmt: skip
    assert "charrnn: warning:" in err and "No space left on device" in err
    assert "Traceback" not in err
    assert out.count("val loss") == 2  # evaluations after iterations 0 and 2: it trained on
    assert status == 1 and "charrnn: error: not saved to" in err  # the final save, too
