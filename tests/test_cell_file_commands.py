"""A user's cell from the command line: `train --cell-file` trains, saves and resumes it bit
for bit, `sample` and `inspect` read its checkpoints given the file again, and every way
a cell file or a checkpoint of one can be wrong is one line and exit 2."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from cell_support import BAD_FILES, MGU, MGU_SOURCE, last_line_of, variant, with_marker

from engine import checkpoint
from engine.cells import CELL_TYPES
from engine.cells.record import RECORD_KEY
from engine.cells.user import LOADED, source_hash
from tui.cli import main
from tui.cli.train import build_trainer
from tui.cli.train_args import TrainArgs

TINY = ["--hidden", "10", "--seq-length", "8", "--sample-every", "0", "--log-every", "10"]


@pytest.fixture(autouse=True)
def forget_cells(registry):
    """No cell of a file is loaded when a test starts, and none is left loaded after it."""
    for name in [n for n in CELL_TYPES if n in LOADED]:
        del CELL_TYPES[name]


def forget(name: str = "mgu") -> None:
    """As a new process starts: the user's cell is not loaded."""
    CELL_TYPES.pop(name, None)
    LOADED.pop(name, None)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def mgu_run(tmp_path: Path, monkeypatch, capsys) -> Path:
    """mgu.py copied into a working directory, and 20 iterations of it saved as m.npz."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(MGU, tmp_path / "mgu.py")
    argv = ["train", "blog_sample", "--headless", "--cell-file", "mgu.py", *TINY]
    status, _, err = run(capsys, *argv, "--iters", "20", "--save", "m.npz")
    assert status == 0, err
    forget()
    return tmp_path / "m.npz"


def test_train_saves_resumes_bit_exactly_samples_and_inspects(mgu_run: Path, capsys) -> None:
    straight = ["train", "blog_sample", "--headless", "--cell-file", "mgu.py", *TINY]
    assert run(capsys, *straight, "--iters", "40", "--save", "straight.npz")[0] == 0
    status, out, err = run(
        capsys, *straight, "--resume", "m.npz", "--iters", "20", "--save", "resumed.npz"
    )
    assert status == 0, err
    assert "iter 30, loss:" in out  # the log goes on from iteration 20
    want, got = checkpoint.load("straight.npz"), checkpoint.load("resumed.npz")
    assert got.iteration == want.iteration == 40 and got.config.cell == "mgu"
    for name, weights in want.group("param/").items():
        np.testing.assert_array_equal(got.group("param/")[name], weights, err_msg=name)
    status, out, err = run(capsys, "sample", "m.npz", "--cell-file", "mgu.py", "--length", "30",
                           "--prime", "bye", "--seed", "1")  # fmt: skip
    assert status == 0 and out.startswith("bye") and len(out) == 34, err
    status, out, err = run(capsys, "inspect", "m.npz", "--cell-file", "mgu.py", "--gates")
    assert status == 0 and re.search(r"\n +0 +f +0\.", out), err  # mgu's one gate, f
    status, out, err = run(capsys, "inspect", "m.npz", "--cell-file", "mgu.py", "--unit", "0:3:n")
    assert status == 0 and "n unit 3" in out, err
    status, out, err = run(capsys, "inspect", "m.npz", "--cell-file", "mgu.py", "--unit", "0:3:c")
    assert status == 2 and "mgu layers have no 'c' (choose from h, f, n)" in err


def test_a_checkpoint_records_the_cell_and_a_built_in_ones_stays_as_it_was(
    mgu_run: Path, capsys
) -> None:
    meta = json.loads(np.load(mgu_run)["meta"].tobytes())
    assert meta[RECORD_KEY] == {
        "name": "mgu",
        "class": "MGUCell",
        "file": "mgu.py",
        "sha256": source_hash(MGU.read_bytes()),
    }
    assert run(capsys, "train", "blog_sample", "--headless", *TINY, "--iters", "2",
               "--save", "rnn.npz")[0] == 0  # fmt: skip
    meta = json.loads(np.load("rnn.npz")["meta"].tobytes())
    assert RECORD_KEY not in meta  # a built-in cell's file is as it always was
    assert set(meta) == {
        "format",
        "format_version",
        "config",
        "vocab",
        "seed",
        "iteration",
        "smooth_loss",
        "elapsed",
        "stream",
        "rng",
        "corpus",
        "saved_at",
        "budget",
    }  # fmt: skip  (--iters gives the run a budget)


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "m.npz"],
        ["inspect", "m.npz"],
        ["train", "blog_sample", "--headless", "--resume", "m.npz", "--iters", "1"],
    ],
    ids=["sample", "inspect", "resume"],
)
def test_without_the_cell_file_a_checkpoint_says_which_file_it_needs(
    argv: list[str], mgu_run: Path, capsys
) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith(
        "charrnn: error: m.npz: holds the cell 'mgu' of your own (class MGUCell from mgu.py), "
        "and charrnn never imports code named in a file: give it again with --cell-file mgu.py"
    )
    assert "mgu" not in CELL_TYPES  # nothing was imported


def test_export_refuses_a_users_cell_in_one_line(mgu_run: Path, capsys) -> None:
    status, _, err = run(capsys, "export", "m.npz", "m.pt")  # whether or not torch is here
    assert status == 2 and len(err.splitlines()) == 1
    assert "m.npz: not exported: it holds the cell 'mgu' of your own (from mgu.py)" in err
    assert not Path("m.pt").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "m.npz", "--length", "5"],
        ["inspect", "m.npz", "--gates"],
        ["train", "blog_sample", "--headless", "--resume", "m.npz", "--iters", "1"],
    ],
    ids=["sample", "inspect", "resume"],
)
def test_a_changed_source_is_refused_unless_accepted(
    argv: list[str], mgu_run: Path, capsys
) -> None:
    Path("mgu.py").write_text(MGU_SOURCE + "# edited since\n", encoding="utf-8")
    status, _, err = run(capsys, *argv, "--cell-file", "mgu.py")
    assert status == 2 and len(err.splitlines()) == 1
    saved, now = source_hash(MGU.read_bytes()), source_hash(Path("mgu.py").read_bytes())
    assert err.startswith(
        f"charrnn: error: m.npz: was saved with another version of the cell 'mgu': mgu.py now "
        f"hashes to sha256 {now[:12]}, the file says {saved[:12]} (from mgu.py); "
        "--cell-changed-ok loads it with the source as it is now"
    )
    forget()
    status, _, err = run(capsys, *argv, "--cell-file", "mgu.py", "--cell-changed-ok")
    assert status == 0, err


def test_a_preset_applies_with_the_users_cell(registry) -> None:
    args = TrainArgs.parse(["alice", "--preset", "lstm", "--cell-file", str(MGU)])
    from tui.cli.cell_file import load_user_cell

    trainer = build_trainer(args, load_user_cell(args))
    lstm = build_trainer(TrainArgs.parse(["alice", "--preset", "lstm"])).config
    assert trainer.config == dataclasses.replace(lstm, cell="mgu")
    assert trainer.summary().startswith("mgu 256, ")


def test_cell_and_cell_file_together_are_refused_before_the_file_runs(tmp_path, capsys) -> None:
    marker = tmp_path / "ran"
    cell = tmp_path / "cell.py"
    cell.write_text(with_marker(MGU_SOURCE, marker), encoding="utf-8")
    status, _, err = run(capsys, "train", "blog_sample", "--headless", "--cell-file", str(cell),
                         "--cell", "lstm")  # fmt: skip
    assert status == 2 and "give --cell or --cell-file, not both" in err
    assert not marker.exists()


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_cell_file_is_one_line_and_exit_2_from_train(
    case: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    old, new, message = BAD_FILES[case]
    monkeypatch.chdir(tmp_path)
    variant(tmp_path, old, new)
    argv = ["train", "blog_sample", "--headless", "--cell-file", "cell.py", "--iters", "5"]
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == "", out
    assert len(err.splitlines()) == 1 and err.startswith("charrnn: error: "), err
    assert re.search(message.replace("{line}", str(last_line_of(old, new))), err.rstrip()), err
    assert not (tmp_path / "runs").exists()  # refused before any run began


@pytest.mark.parametrize("command", ["sample", "inspect", "attach"])
@pytest.mark.parametrize("case", ["syntax error", "exception inside forward", "NaN output"])
def test_a_bad_cell_file_is_one_line_and_exit_2_from_every_command(
    command: str, case: str, mgu_run: Path, capsys
) -> None:
    old, new, message = BAD_FILES[case]
    variant(mgu_run.parent, old, new, name="bad.py")
    target = {"attach": ["attach", "runs/none"]}.get(command, [command, "m.npz"])
    status, out, err = run(capsys, *target, "--cell-file", "bad.py")
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1, err
    shown = message.replace("cell\\.py", "bad\\.py").replace("{line}", str(last_line_of(old, new)))
    assert re.search(shown, err.rstrip()), err


def test_debug_shows_the_traceback_of_the_cells_code_from_train(tmp_path, capsys) -> None:
    old, new, _ = BAD_FILES["exception inside forward"]
    path = variant(tmp_path, old, new)
    status, _, err = run(capsys, "train", "blog_sample", "--headless", "--cell-file", str(path),
                         "--debug")  # fmt: skip
    assert status == 2 and err.startswith("Traceback (most recent call last):")
    assert f'File "{path}", line {last_line_of(old, new)}, in forward' in err


def test_an_exception_only_training_meets_is_one_line_naming_the_file(tmp_path, capsys) -> None:
    """The probe's window has 2 streams; this cell fails on a wider one, as training's."""
    path = variant(
        tmp_path, "        h = state[0]\n",
        "        h = state[0]\n        if len(h) > 2:\n            raise RuntimeError('too wide')\n",
    )  # fmt: skip
    status, _, err = run(capsys, "train", "blog_sample", "--headless", "--cell-file", str(path),
                           "--batch", "4", "--seq-length", "8", "--iters", "5")  # fmt: skip
    assert status == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    line = MGU_SOURCE.index("        h = state[0]\n")
    assert re.search(
        rf"charrnn: error: training stopped at iteration 0 \(cell\.py:"
        rf"{MGU_SOURCE.count(chr(10), 0, line) + 3}: RuntimeError in forward: too wide\); "
        "nothing saved",
        err.replace(str(tmp_path) + "/", ""),
    ), err
