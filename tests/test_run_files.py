"""What a run writes: owner-only whatever the umask (a run directory 0700, every file in it
0600), and the log's word that validation reads only part of a large held-out text."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import SIZE, make_app, wait_for
from run_support import start_detached, stop_run
from test_cli import run

import corpora
from engine.config import Config
from engine.trainer import Trainer


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would leave files readable by everyone (0644) and directories 0755."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_headless_run_writes_only_owner_only_files(capsys, tmp_path: Path, open_umask) -> None:
    run_dir = tmp_path / "runs" / "r"
    status, _, err = run(capsys, "train", "blog_sample", "--headless", "--iters", "101",
                         "--sample-every", "50", "--run-dir", str(run_dir))  # fmt: skip
    assert status == 0, err
    assert mode(run_dir) == 0o700
    written = sorted(p.name for p in run_dir.iterdir())
    assert written == ["latest.npz", "lock", "metrics.jsonl", "run.json", "samples.jsonl"]
    for name in written:
        assert mode(run_dir / name) == 0o600, name


def test_a_detached_run_s_log_is_owner_only(tmp_path: Path, open_umask) -> None:
    run_dir = start_detached(tmp_path)
    try:
        assert mode(run_dir.path) == 0o700
        assert mode(run_dir.log) == 0o600
        assert mode(run_dir.status_file) == 0o600
    finally:
        stop_run(run_dir)


def alice_trainer(val_chars: int) -> Trainer:
    name, text = corpora.load("alice")
    config = Config(hidden=8, seq_length=10, val_fraction=0.1, eval_every=50, val_chars=val_chars)
    return Trainer(config, text, corpus_name=name)


def bound_line(trainer: Trainer) -> str:
    predicted, held_out = trainer.validation_scope
    return (
        f"validation on {predicted:,} of {held_out:,} held-out characters (--val-chars 0 for all)"
    )


def test_the_headless_log_says_once_that_validation_is_partial(capsys) -> None:
    flags = ["--hidden", "8", "--val-fraction", "0.1", "--eval-every", "1", "--sample-every", "0"]
    status, out, _ = run(capsys, "train", "alice", "--headless", "--iters", "3", *flags,
                         "--val-chars", "1000")  # fmt: skip
    assert status == 0
    lines = out.splitlines()
    expected = bound_line(alice_trainer(1000))
    assert lines[1] == expected and out.count("validation on") == 1
    status, out, _ = run(capsys, "train", "alice", "--headless", "--iters", "1", *flags,
                         "--val-chars", "0")  # fmt: skip
    assert status == 0 and "validation on" not in out  # all of it: nothing to say


async def test_the_console_says_at_the_start_that_validation_is_partial(tmp_path: Path) -> None:
    trainer = alice_trainer(1000)
    expected = bound_line(trainer)
    app = make_app(tmp_path / "run", trainer, start_paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.message_line.text == expected)
