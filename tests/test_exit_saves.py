"""Saving on the way out: only after a clean stop or Ctrl-C, never a broken model, and a save
that fails is one `charrnn: error:` line with exit 1, headless and console alike."""

from __future__ import annotations

import dataclasses
import errno
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from console_support import SIZE, TINY_RUN, make_session, press, tiny_trainer, wait_for
from console_support import TINY as TINY_CONFIG
from test_cli import TINY, edit_entries, run

import corpora
from engine import checkpoint
from engine.trainer import Trainer
from tui.app import ConsoleApp
from tui.cli.console import run_console
from tui.cli.train_args import TrainArgs
from tui.runs.protocol import Notice, Stop
from tui.runs.rundir import RunDir


def charrnn(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui.cli", *argv], cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture
def model(tmp_path: Path, capsys) -> Path:
    path = tmp_path / "model.npz"
    status, _, err = run(capsys, "train", "blog_sample", "--headless", "--iters", "20", *TINY,
                         "--save", str(path))  # fmt: skip
    assert status == 0, err
    return path


def test_a_crash_mid_training_saves_nothing_and_says_so_in_one_line(
    capsys, monkeypatch, tmp_path: Path, model: Path
) -> None:
    before = model.read_bytes()
    real_step = Trainer.step

    def step(self: Trainer):
        if self.iteration == 23:
            raise RuntimeError("something broke inside")
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", step)
    status, out, err = run(capsys, "train", "blog_sample", "--headless", "--iters", "10", *TINY,
                           "--resume", str(model), "--save", str(model),
                           "--run-dir", str(tmp_path / "run"), "--log-every", "1")  # fmt: skip
    assert status == 1
    assert err == (
        "charrnn: error: training stopped at iteration 23 (RuntimeError: something broke "
        "inside); nothing saved\n"
    )
    assert model.read_bytes() == before  # the user's checkpoint is untouched
    assert not (tmp_path / "run" / "latest.npz").exists()
    status_file = json.loads((tmp_path / "run" / "run.json").read_text())
    assert status_file["state"] == "crashed" and "something broke" in status_file["reason"]
    assert "iter 22," in out  # it trained up to the crash


def test_resuming_a_checkpoint_with_nan_weights_never_writes_over_save(
    tmp_path: Path, model: Path
) -> None:
    def poison(arrays, meta):
        arrays["param/Why"] = np.full_like(arrays["param/Why"], np.nan)

    edit_entries(model, poison)
    before = model.read_bytes()
    done = charrnn("train", "blog_sample", "--headless", "--iters", "5", *TINY,
                   "--resume", str(model), "--save", str(model), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "parameter Why is not finite" in done.stderr
    assert done.stdout == ""
    assert model.read_bytes() == before


def test_a_learning_rate_that_overflows_saves_no_infinite_weights(tmp_path: Path) -> None:
    # One step at lr 1e308 leaves infinite weights behind a finite loss.
    done = charrnn("train", "blog_sample", "--headless", "--iters", "1", *TINY,
                   "--lr", "1e308", "--save", "x.npz", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr  # no numpy warnings before it
    assert done.stderr.startswith("charrnn: error: not saved to x.npz")
    assert "is not finite" in done.stderr
    assert not (tmp_path / "x.npz").exists()


def test_divergence_is_one_line_with_no_numpy_warnings(tmp_path: Path) -> None:
    done = charrnn("train", "blog_sample", "--headless", "--iters", "5", *TINY,
                   "--lr", "1e308", "--save", "x.npz", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert "RuntimeWarning" not in done.stderr
    assert done.stderr.startswith("charrnn: error: training diverged at iteration 1")
    assert not (tmp_path / "x.npz").exists()


async def quit_when_training(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.status.iteration > 5)
    await press(pilot, "q")


def run_console_quitting(monkeypatch, tmp_path: Path, settings, pilot=quit_when_training) -> int:
    """The real `charrnn train` console path (run_console), on a headless screen, driven by
    `pilot` (by default: q once training is under way)."""

    def run_headless(self: ConsoleApp):
        return super(ConsoleApp, self).run(headless=True, size=SIZE, auto_pilot=pilot)

    monkeypatch.setattr(ConsoleApp, "run", run_headless)
    args = TrainArgs.parse(["blog_sample"])
    return run_console(args, tiny_trainer(), settings, RunDir(tmp_path / "run").create())


def test_a_full_disk_at_console_exit_is_one_error_line_and_exit_1(
    monkeypatch, tmp_path: Path, capsys
) -> None:
    def full(trainer, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "save", full)
    settings = dataclasses.replace(TINY_RUN, save_to=tmp_path / "m.npz")
    status = run_console_quitting(monkeypatch, tmp_path, settings)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("charrnn: error:")]
    assert status == 1
    assert len(errors) == 1, err
    assert f"{tmp_path / 'm.npz'}: No space left on device" in errors[0]
    assert "latest.npz: No space left on device" in errors[0]
    assert "Traceback" not in err and "resume with" not in err  # nothing to resume from


def test_a_clean_console_exit_saves_and_says_how_to_resume(
    monkeypatch, tmp_path: Path, capsys
) -> None:
    status = run_console_quitting(monkeypatch, tmp_path, TINY_RUN)
    err = capsys.readouterr().err
    assert status == 0
    assert (
        f"resume with: charrnn train blog_sample --resume {tmp_path / 'run' / 'latest.npz'}" in err
    )
    assert checkpoint.load(tmp_path / "run" / "latest.npz").iteration > 5


def test_a_diverging_session_pauses_with_no_numpy_warning(tmp_path: Path) -> None:
    posted: list[object] = []

    def post(event: object) -> None:
        posted.append(event)
        if isinstance(event, Notice) and "diverged" in event.text:
            session.send(Stop(save=True))

    trainer = Trainer(TINY_CONFIG.replace(lr=1e308), corpora.load("blog_sample")[1])
    session = make_session(tmp_path / "run", trainer, post, sample_every=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would end the session here
        report = session.train()
    assert session.paused and trainer.diverged
    assert report.saved == [] and report.errors == ["the model diverged; nothing saved"]
    assert not (tmp_path / "run" / "latest.npz").exists()


def test_a_crash_in_the_console_saves_nothing_and_is_one_error_line(
    monkeypatch, tmp_path: Path, capsys, model: Path
) -> None:
    before = model.read_bytes()
    real_step = Trainer.step

    def step(self: Trainer):
        if self.iteration == 30:
            raise RuntimeError("something broke inside")
        return real_step(self)

    async def watch(pilot) -> None:
        """Only watch: the run ends the console itself."""

    monkeypatch.setattr(Trainer, "step", step)
    settings = dataclasses.replace(TINY_RUN, save_to=model)
    status = run_console_quitting(monkeypatch, tmp_path, settings, pilot=watch)
    err = capsys.readouterr().err
    assert status == 1
    assert err == (
        "charrnn: error: training stopped at iteration 30 (RuntimeError: something broke "
        "inside); nothing saved\n"
    )
    assert model.read_bytes() == before
    assert not (tmp_path / "run" / "latest.npz").exists()
