"""Where --save (and the console's save) may write: never over the corpus, a pipe or a device,
and over a file that is not a checkpoint only with --force. Each refusal comes before any
training and leaves what was there untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from console_support import SIZE, fill, make_app, make_session, press, wait_for
from run_support import stop_run
from test_cli import TINY, assert_clean_error, run, run_exit

from engine import checkpoint
from engine.errors import CharrnnError
from tui.runs.protocol import Notice, Save, Stop
from tui.runs.rundir import RunDir
from tui.runs.save_target import check_save_target, is_checkpoint
from tui.screens import ConfirmScreen, SaveDialog

CORPUS_TEXT = "a corpus the user wrote by hand and has no other copy of.\n" * 3


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "mine.txt"
    path.write_text(CORPUS_TEXT)
    return path


def train_saving_to(capsys, corpus: Path | str, target: Path | str, *flags: str):
    return run(capsys, "train", str(corpus), "--headless", "--iters", "3", *TINY,
               "--save", str(target), *flags)  # fmt: skip


def link(tmp_path: Path, name: str, to: Path) -> Path:
    path = tmp_path / name
    path.symlink_to(to)
    return path


@pytest.mark.parametrize(
    "target",
    [
        lambda d, c: c,  # the corpus itself
        lambda d, c: link(d, "model.npz", c),  # a symbolic link to it
        lambda d, c: (d / "hard.npz", os.link(c, d / "hard.npz"))[0],  # a hard link
        lambda d, c: Path(os.path.relpath(c)),  # another spelling of its path
    ],
    ids=["same-path", "symlink", "hard-link", "relative"],
)
def test_save_onto_the_corpus_is_refused_before_training(
    capsys, tmp_path: Path, corpus: Path, target
) -> None:
    status, out, err = train_saving_to(capsys, corpus, target(tmp_path, corpus))
    assert_clean_error(status, out, err, "is the corpus being trained on")
    assert out == ""  # said before the corpus was even read
    assert corpus.read_text() == CORPUS_TEXT


def test_a_corpus_named_through_a_link_is_protected_too(
    capsys, tmp_path: Path, corpus: Path
) -> None:
    via = link(tmp_path, "via.txt", corpus)
    status, out, err = train_saving_to(capsys, via, corpus, "--force")
    assert_clean_error(status, out, err, "is the corpus being trained on")
    assert corpus.read_text() == CORPUS_TEXT


def test_save_onto_a_fifo_is_refused_and_the_fifo_stays(capsys, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    status, out, err = train_saving_to(capsys, "blog_sample", fifo, "--force")
    assert_clean_error(status, out, err, "is a named pipe (FIFO)", "regular file")
    assert fifo.is_fifo()


def test_detach_with_a_bad_save_target_starts_nothing(capsys, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    try:
        status, out, err = run(capsys, "train", "blog_sample", "--detach", "--run-dir",
                               str(tmp_path / "run"), "--save", str(fifo))  # fmt: skip
    finally:
        stop_run(RunDir(tmp_path / "run"))  # had it started, it must not outlive the test
    assert_clean_error(status, out, err, "is a named pipe (FIFO)")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("where", "says"),
    [("/dev/null", "is a device"), (".", "is a directory; give a file name such as")],
)
def test_the_rule_refuses_devices_and_directories(where: str, says: str) -> None:
    # The rule alone: nothing is written, so /dev/null itself is safe to name here.
    with pytest.raises(CharrnnError, match=says):
        check_save_target(Path(where), force=True)


def test_a_file_that_is_not_a_checkpoint_needs_force(capsys, tmp_path: Path) -> None:
    notes = tmp_path / "notes.npz"
    notes.write_text("my notes, not a model\n")
    status, out, err = train_saving_to(capsys, "blog_sample", notes)
    assert_clean_error(status, out, err, "is not a charrnn checkpoint", "--force")
    assert notes.read_text() == "my notes, not a model\n"
    status, _, err = train_saving_to(capsys, "blog_sample", notes, "--force")
    assert status == 0, err
    assert is_checkpoint(notes) and checkpoint.load(notes).iteration == 3


def test_an_existing_checkpoint_is_replaced_without_force(capsys, tmp_path: Path) -> None:
    model = tmp_path / "model.npz"
    assert train_saving_to(capsys, "blog_sample", model)[0] == 0
    status, _, err = run(capsys, "train", "blog_sample", "--headless", "--iters", "2", *TINY,
                         "--resume", str(model), "--save", str(model))  # fmt: skip
    assert status == 0, err
    assert checkpoint.load(model).iteration == 5


@pytest.mark.parametrize("flag", ["--save", "--resume", "--run-dir"])
def test_an_empty_path_is_refused_not_ignored(capsys, flag: str) -> None:
    status, out, err = run_exit(
        capsys, "train", "blog_sample", "--headless", "--iters", "1", flag, ""
    )
    assert_clean_error(status, out, err, f"argument {flag}: must be a file path (got '')")


def test_a_console_save_onto_the_corpus_is_refused_and_training_goes_on(
    tmp_path: Path, corpus: Path
) -> None:
    posted: list[object] = []
    session = make_session(tmp_path / "run", post=posted.append, sample_every=0,
                           corpus_path=corpus, pause_at=5)  # fmt: skip
    session.send(Save(str(link(tmp_path, "m.npz", corpus))))
    session.send(Stop(save=False))
    session.train()
    errors = [e.text for e in posted if isinstance(e, Notice) and e.severity == "error"]
    assert len(errors) == 1 and "is the corpus being trained on" in errors[0], errors
    assert corpus.read_text() == CORPUS_TEXT


async def test_the_save_dialog_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    app = make_app(tmp_path / "run")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "s")
        await fill(pilot, "#save-path", str(fifo))
        await press(pilot, "enter")
        error = app.screen.query_one("#save-error")
        await wait_for(pilot, lambda: "named pipe" in str(error.render()))
        assert isinstance(app.screen, SaveDialog)  # stays open for another name
        await press(pilot, "escape")
        before = app.status.iteration
        await wait_for(pilot, lambda: app.status.iteration > before)
    assert fifo.is_fifo()


async def test_the_save_dialog_refuses_a_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    """As --save without --force: the dialog says so at once and stays open for another name."""
    notes = tmp_path / "notes.npz"
    notes.write_text("my notes\n")
    app = make_app(tmp_path / "run")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "s")
        await fill(pilot, "#save-path", str(notes))
        await press(pilot, "enter")
        error = app.screen.query_one("#save-error")
        await wait_for(pilot, lambda: "is not a charrnn checkpoint" in str(error.render()))
        assert isinstance(app.screen, SaveDialog)
        await press(pilot, "escape")
    assert notes.read_text() == "my notes\n"


async def test_the_save_dialog_asks_before_replacing_a_checkpoint(tmp_path: Path) -> None:
    app = make_app(tmp_path / "run")
    model = tmp_path / "run" / "model.npz"
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 0)
        app.link.send(Save(str(model)))
        await wait_for(pilot, lambda: is_checkpoint(model))
        first = checkpoint.load(model).iteration
        await wait_for(pilot, lambda: app.status.iteration > first)
        await press(pilot, "s")
        await fill(pilot, "#save-path", str(model))
        await press(pilot, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.question == f"{model} exists. Overwrite it?"
        await press(pilot, "y")
        await wait_for(pilot, lambda: checkpoint.load(model).iteration > first)


RECORDS = ["metrics.jsonl", "samples.jsonl", "run.json", "run.log", "control.sock", "inspect.npz",
           "lock"]  # fmt: skip


@pytest.mark.parametrize("name", RECORDS)
def test_a_save_from_a_viewer_never_replaces_the_runs_own_records(
    tmp_path: Path, name: str
) -> None:
    """The issue's case: a socket Save onto R/metrics.jsonl or R/run.json made them zips (and
    compare then read 2,687 unreadable lines). Refused whether the record exists yet or not."""
    posted: list[object] = []
    session = make_session(tmp_path / "run", post=posted.append, sample_every=0, pause_at=3)
    target = tmp_path / "run" / name
    session.send(Save(str(target)))
    session.send(Save(str(link(tmp_path, "alias", tmp_path / "run") / name)))  # another name
    session.send(Stop(save=False))
    session.train()
    errors = [e.text for e in posted if isinstance(e, Notice) and e.severity == "error"]
    assert len(errors) == 2 and all(f"is the run's own {name}" in e for e in errors), errors
    assert not is_checkpoint(target)


def test_a_save_from_a_viewer_follows_the_save_rule(tmp_path: Path) -> None:
    """A file that is not a checkpoint is refused (the issue: notes.txt became a zip); an
    existing checkpoint is replaced; a new name is written."""
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    model, fresh = tmp_path / "model.npz", tmp_path / "fresh.npz"
    posted: list[object] = []
    session = make_session(tmp_path / "run", post=posted.append, sample_every=0)
    checkpoint.save(session.trainer, model)
    for _ in range(3):
        session.trainer.step()
    for target in (notes, model, fresh):
        session.send(Save(str(target)))
    session.send(Stop(save=False))
    session.train()
    errors = [e.text for e in posted if isinstance(e, Notice) and e.severity == "error"]
    assert len(errors) == 1 and "notes.txt: exists and is not a charrnn checkpoint" in errors[0]
    assert notes.read_text() == "my notes\n"
    assert checkpoint.load(model).iteration == 3 and checkpoint.load(fresh).iteration == 3


def test_save_onto_a_run_record_is_refused_before_training(capsys, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text('{"iteration": 0, "loss": 3.0}\n')
    status, out, err = train_saving_to(capsys, "blog_sample", run_dir / "metrics.jsonl",
                                       "--force", "--run-dir", str(run_dir))  # fmt: skip
    assert_clean_error(status, out, err, "is the run's own metrics.jsonl")
    assert (run_dir / "metrics.jsonl").read_text() == '{"iteration": 0, "loss": 3.0}\n'
