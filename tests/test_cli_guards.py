"""Flags checked like any other (--seed's range), and a console that needs a terminal says so
instead of spinning when stdin is not one (`charrnn < /dev/null`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from run_support import charrnn, start_detached, stop_run
from test_cli import assert_clean_error, run, run_exit

from engine import checkpoint
from engine.statedict import SEED_MAX
from tui.runs.status import describe_state


@pytest.fixture
def model(tmp_path: Path, capsys) -> Path:
    path = tmp_path / "m.npz"
    assert run(capsys, "train", "blog_sample", "--headless", "--iters", "2",
               "--sample-every", "0", "--save", str(path))[0] == 0  # fmt: skip
    return path


@pytest.mark.parametrize("value", [str(SEED_MAX + 1), "-1", "2e9", str(2**64)])
@pytest.mark.parametrize("command", ["train", "sample"])
def test_a_seed_outside_the_generators_range_is_an_argparse_error(
    capsys, model: Path, command: str, value: str
) -> None:
    target = "blog_sample" if command == "train" else str(model)
    status, out, err = run_exit(capsys, command, target, "--headless" if command == "train"
                                else "--length=5", f"--seed={value}")  # fmt: skip
    assert_clean_error(status, out, err, "argument --seed: must be a whole number",
                       f"from 0 to {SEED_MAX}")  # fmt: skip


def test_the_largest_seed_is_accepted(capsys, model: Path) -> None:
    status, out, _ = run(capsys, "sample", str(model), "--length", "5", "--seed", str(SEED_MAX))
    assert status == 0 and len(out) == 6
    status, _, err = run(capsys, "train", "blog_sample", "--headless", "--iters", "1",
                         "--sample-every", "0", "--seed", str(SEED_MAX))  # fmt: skip
    assert status == 0, err


NEEDS_TERMINAL = "the console needs a terminal on stdin"


@pytest.mark.parametrize("argv", [[], ["train", "blog_sample"]], ids=["bare", "train"])
def test_the_console_without_a_terminal_says_so_at_once(tmp_path: Path, argv: list[str]) -> None:
    done = charrnn(*argv, cwd=tmp_path, timeout=60)  # stdin is /dev/null
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert NEEDS_TERMINAL in done.stderr
    assert "--headless" in done.stderr and "--detach" in done.stderr
    assert not (tmp_path / "runs").exists()  # no run was started


def test_attach_without_a_terminal_says_so_and_the_run_goes_on(tmp_path: Path) -> None:
    run_dir = start_detached(tmp_path)
    try:
        done = charrnn("attach", "run", cwd=tmp_path, timeout=60)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and NEEDS_TERMINAL in done.stderr, done.stderr
        assert "charrnn runs" in done.stderr
        assert describe_state(run_dir)[0] == "live"
    finally:
        stop_run(run_dir)
    assert checkpoint.load(run_dir.latest).iteration > 0  # it trained on, and saved
