"""A user's cell in the console (Pilot, 80x24) and in every process that builds its model:
`train --cell-file` in-process with the inspect screen, `l` refusing a checkpoint whose cell
file was not given, `d` and --detach carrying --cell-file to the background run, `attach`
and serve's viewers building the cell from the file the user names."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from cell_support import MGU
from console_support import SIZE, fill, make_app, press, wait_for
from run_support import charrnn, start_detached, stop_run, wait_until

from engine import checkpoint
from engine.cells import CELL_TYPES
from engine.cells.record import RECORD_KEY
from engine.cells.user import LOADED, load_cell_file
from engine.config import Config
from engine.trainer import Trainer
from tui.app import ConsoleApp
from tui.cli import attach as attach_command
from tui.cli import main
from tui.cli import train as train_command
from tui.cli.serve import viewer_cell, viewer_command
from tui.cli.train_args import TrainArgs
from tui.runs.rundir import RunDir
from tui.runs.status import read_status
from tui.screens import LoadDialog
from tui.screens.inspect import InspectScreen

TINY = ["--hidden", "8", "--seq-length", "8", "--sample-every", "50"]


@pytest.fixture(autouse=True)
def no_cell_loaded(registry):
    for name in [n for n in CELL_TYPES if n in LOADED]:
        del CELL_TYPES[name]


def in_console(monkeypatch, module, auto_pilot) -> None:
    """The console of `module`'s command runs headless at 80x24, driven by `auto_pilot`."""

    def run_headless(self: ConsoleApp):
        return super(ConsoleApp, self).run(headless=True, size=SIZE, auto_pilot=auto_pilot)

    monkeypatch.setattr(ConsoleApp, "run", run_headless)
    monkeypatch.setattr(module, "require_terminal", lambda instead: None)


async def cycle_activations(pilot) -> list[str]:
    """Open the inspect screen, then k four times: the kinds it shows, in order."""
    app = pilot.app
    await press(pilot, "i")
    await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
    screen = app.screen
    await press(pilot, "u")
    seen = []
    for _ in range(4):
        await press(pilot, "k")
        await pilot.pause()
        seen.append(screen.kind)
    help_line = str(screen.query_one("#inspect-help").render())
    assert "k h/f/n" in help_line, help_line
    await press(pilot, "escape")
    return seen


def test_train_with_a_cell_file_in_the_console(tmp_path, monkeypatch, capsys) -> None:
    seen: list[str] = []

    async def drive(pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.status.iteration > 5)
        assert pilot.app.status.summary.startswith("mgu 8, ")
        seen.extend(await cycle_activations(pilot))
        await press(pilot, "q")

    in_console(monkeypatch, train_command, drive)
    run_dir = tmp_path / "run"
    args = ["train", "blog_sample", *TINY, "--cell-file", str(MGU), "--run-dir", str(run_dir)]
    assert main(args) == 0
    kinds = ("h", "f", "n")
    assert seen[0] in kinds and seen == [kinds[(kinds.index(seen[0]) + i) % 3] for i in range(4)]
    meta = json.loads(np.load(run_dir / "latest.npz")["meta"].tobytes())
    assert meta[RECORD_KEY]["name"] == "mgu" and meta[RECORD_KEY]["class"] == "MGUCell"
    err = capsys.readouterr().err
    assert f"resume with: charrnn train blog_sample --resume {run_dir}/latest.npz --cell-file " \
           f"{shlex.quote(str(MGU))}" in err  # fmt: skip


async def test_l_refuses_a_checkpoint_whose_cell_file_was_not_given(tmp_path) -> None:
    load_cell_file(str(MGU))
    trainer = Trainer(Config(cell="mgu", hidden=8, seq_length=8), "abcd efgh " * 10, seed=0)
    path = checkpoint.save(trainer, tmp_path / "mgu.npz")
    del CELL_TYPES["mgu"]  # as in a console started without --cell-file
    app = make_app(tmp_path / "run")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.status.iteration > 0)
        await press(pilot, "l")
        await wait_for(pilot, lambda: isinstance(app.screen, LoadDialog))
        await fill(pilot, "#load-path", str(path))
        await press(pilot, "enter")
        await wait_for(pilot, lambda: "load refused" in app.message_line.text)
        assert "holds the cell 'mgu' of your own" in app.message_line.text
        assert app.status.summary.startswith("rnn 12")  # the console's model trains on
        await press(pilot, "q")


def test_d_carries_the_cell_file_to_the_background_run(tmp_path, monkeypatch) -> None:
    async def detach_once_training(pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.status.iteration > 20)
        await press(pilot, "d")

    in_console(monkeypatch, train_command, detach_once_training)
    run_dir = RunDir(tmp_path / "run")
    args = TrainArgs.parse(["blog_sample", *TINY, "--cell-file", str(MGU), "--iters", "400",
                            "--run-dir", str(run_dir.path)])  # fmt: skip
    try:
        assert train_command.train(args) == 0
        wait_until(lambda: read_status(run_dir)["state"] != "live", "the run to finish", 120)
    finally:
        stop_run(run_dir)
    assert read_status(run_dir)["state"] == "finished", run_dir.log.read_text()
    assert read_status(run_dir)["cell_file"]["name"] == "mgu"
    assert checkpoint.load(run_dir.latest).iteration == 400  # the background built the cell


def test_a_detached_cells_run_is_attached_and_inspected_with_the_cell_file(
    tmp_path, monkeypatch
) -> None:
    run_dir = start_detached(tmp_path, "--cell-file", str(MGU))
    seen: list[str] = []
    refusal: list[str] = []

    async def inspect_and_leave(pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.status.iteration > 0)
        seen.extend(await cycle_activations(pilot))
        await press(pilot, "q")

    async def refused_and_leave(pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.status.iteration > 0)
        await press(pilot, "i")
        await wait_for(pilot, lambda: "inspect failed" in pilot.app.message_line.text)
        refusal.append(pilot.app.message_line.text)
        await press(pilot, "q")

    try:
        in_console(monkeypatch, attach_command, refused_and_leave)
        assert main(["attach", str(run_dir.path)]) == 0
        assert f"give it again with --cell-file {MGU}" in refusal[0]
        in_console(monkeypatch, attach_command, inspect_and_leave)
        assert main(["attach", str(run_dir.path), "--cell-file", str(MGU)]) == 0
        assert sorted(seen[:3]) == ["f", "h", "n"]
    finally:
        stop_run(run_dir)
    done = charrnn("attach", "run", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.rstrip().endswith(
        f"--resume run/latest.npz --run-dir run --detach --cell-file {MGU}"
    )


def test_detach_prints_the_attach_command_with_the_cell_file(tmp_path) -> None:
    done = charrnn("train", "blog_sample", "--detach", "--run-dir", "run", *TINY,
                   "--cell-file", "cells/mgu.py", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "cells/mgu.py: no such file" in done.stderr
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "mgu.py").write_bytes(MGU.read_bytes())
    done = charrnn("train", "blog_sample", "--detach", "--run-dir", "run", *TINY,
                   "--cell-file", "cells/mgu.py", cwd=tmp_path)  # fmt: skip
    try:
        assert done.returncode == 0, done.stderr
        assert "attach with: charrnn attach run --cell-file cells/mgu.py" in done.stdout
    finally:
        stop_run(RunDir(tmp_path / "run"))


def test_serves_viewers_build_the_cell_from_the_file_given(tmp_path) -> None:
    served = argparse.Namespace(fps=20, theme="dark", cell_file=str(MGU), cell_changed_ok=True,
                                debug=False)  # fmt: skip
    cell = viewer_cell(served, None)
    command = shlex.split(viewer_command(RunDir(tmp_path / "run"), served, cell))
    assert command[command.index("--cell-file") + 1] == f"{MGU}:MGUCell"
    assert "--cell-changed-ok" in command
    plain = argparse.Namespace(fps=20, theme="dark", cell_file=None, cell_changed_ok=False,
                               debug=False)  # fmt: skip
    new = TrainArgs.parse(["blog_sample", "--cell-file", str(MGU), "--detach"])
    assert viewer_cell(plain, new).name == "mgu"  # serve --new ... --cell-file: the run's
    assert "--cell-file" not in viewer_command(RunDir(tmp_path), plain, viewer_cell(plain, None))
    with pytest.raises(Exception, match="with --new, give --cell-file after it"):
        viewer_cell(served, new)


def test_d_and_detach_hand_the_cell_file_on() -> None:
    args = TrainArgs.parse(["alice", "--cell-file", "my cells/mgu.py:MGUCell", "--cell-changed-ok"])
    moved = args.continued(Path("run/latest.npz"), (10, None), 1.0)
    argv = moved.in_background(Path("run")).to_argv()
    assert "--cell-file=my cells/mgu.py:MGUCell" in argv and "--cell-changed-ok" in argv
    assert TrainArgs.parse(argv[1:]).cell_file == "my cells/mgu.py:MGUCell"
