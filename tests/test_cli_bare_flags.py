"""`charrnn` with flags and no command means `charrnn train ...`, as `charrnn` alone does."""

from __future__ import annotations

import pytest

from tui.cli import main
from tui.cli.options import hyper_parameters, parse


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--preset", "gru"],
        ["--headless", "--iters", "10"],
        ["--preset=lstm", "alice"],
        # What a detached run started as `charrnn --preset gru --detach` runs in the background.
        ["--preset", "gru", "--run-dir", "runs/x", "--background"],
    ],
)
def test_flags_without_a_command_go_to_train(argv: list[str]) -> None:
    args = parse(argv)
    assert args.command == "train"
    assert args == parse(["train", *argv])


def test_bare_flags_set_what_train_would() -> None:
    args = parse(["--preset", "gru", "--hidden", "64", "--headless", "--iters", "10"])
    assert (args.preset, args.headless, args.iters) == ("gru", True, 10)
    assert hyper_parameters(args) == {"hidden": 64}


def test_bare_flags_train_headless_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--headless", "--iters", "2", "--log-every", "1", "--sample-every", "0",
                   "blog_sample"])  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[:2] == ["data has 58 characters, 22 unique.", "iter 0, loss: 77.276072"]
    assert lines[2].startswith("iter 1, loss: ")


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_alone_is_still_the_top_level_help(
    capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    with pytest.raises(SystemExit) as stop:
        parse([flag])
    out = capsys.readouterr().out
    assert stop.value.code == 0
    assert out.startswith("usage: charrnn [-h] COMMAND")
    assert "--preset" not in out  # train's own help lists it; the top level does not


def test_commands_still_parse_as_themselves() -> None:
    assert parse(["sample", "x.npz"]).command == "sample"
    assert parse(["sample", "x.npz"]).checkpoint == "x.npz"
    assert parse(["runs"]).command == "runs"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--preset", "nope"], "argument --preset: invalid choice: 'nope'"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--iters", "-1"], "argument --iters: must be 0 or more (got '-1')"),
    ],
)
def test_bad_bare_flags_are_train_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    with pytest.raises(SystemExit) as stop:
        parse(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.startswith("charrnn: error: ") and fragment in err
    assert "invalid choice: '--" not in err  # the old "not a command" error
