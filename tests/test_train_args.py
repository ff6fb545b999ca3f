"""`charrnn train`'s arguments as typed settings: every option survives settings -> argv ->
settings, and a run continued elsewhere keeps its flags and counts --iters again."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tui.cli import options
from tui.cli.options import HYPER_PARAMETERS, OPTIONS, Option
from tui.cli.train_args import TRAIN, TrainArgs

# A value of each form the option table's types accept, unlike any default. A value may
# start with '-' or hold spaces: the command line given to another process must keep it.
EXAMPLES = {
    options.size: "3",
    options.count: "2",
    options.positive: "0.5",
    options.non_negative: "1.5",
    options.fraction: "0.25",
    options.decay: "0.5",
    options.share: "1",
    options.seed: "7",
    options.file_path: "-a file.npz",
    None: "a corpus.txt",
}
HP = {o.dest: o for o in HYPER_PARAMETERS}
TRAIN_OPTIONS = [OPTIONS[name] for name in TRAIN.option_names]
TRAIN_OPTIONS += [HP[name] for name in TRAIN.hyper_parameters]


def typed(option: Option) -> list[str]:
    """The option set to an example value, as a user types it."""
    if option.flag:
        return [option.flag_name]
    if option.choices:
        value = next(c for c in reversed(option.choices) if c != option.default)
    elif option.type in EXAMPLES:
        value = EXAMPLES[option.type]
    else:
        pytest.fail(f"no example value for {option.dest}'s type {option.type}: add one")
    return ["--", value] if option.positional else [f"{option.flag_name}={value}"]


@pytest.mark.parametrize("option", TRAIN_OPTIONS, ids=lambda o: o.dest)
def test_every_train_option_survives_settings_to_argv_and_back(option: Option) -> None:
    settings = TrainArgs.parse(typed(option))
    assert settings != TrainArgs.parse([])  # the case really sets something
    argv = settings.to_argv()
    assert argv[0] == "train"
    assert TrainArgs.parse(argv[1:]) == settings


def test_all_train_options_at_once_survive_the_round_trip() -> None:
    flags = [arg for option in TRAIN_OPTIONS if not option.positional for arg in typed(option)]
    settings = TrainArgs.parse([*flags, "--", "-odd corpus"])
    assert settings.corpus == "-odd corpus" and settings.save == "-a file.npz"
    assert len(settings.changes) == len(TRAIN.hyper_parameters)
    assert TrainArgs.parse(settings.to_argv()[1:]) == settings


def test_train_args_has_a_field_for_each_train_option() -> None:
    fields = {f.name for f in dataclasses.fields(TrainArgs)} - {"changes"}
    assert fields == set(TRAIN.option_names)


def test_a_run_moved_elsewhere_gets_what_remains_of_its_budget_and_keeps_save() -> None:
    args = TrainArgs.parse(["alice", "--iters", "20000", "--minutes", "10", "--save", "m.npz",
                            "--hidden", "8", "--sample-every", "10", "--temperature", "0.8"])  # fmt: skip
    latest = Path("runs/alice-1/latest.npz")
    moved = args.continued(latest, (19907, 7.5), temperature=0.5)
    assert (moved.iters, moved.minutes) == (19907, 7.5)  # both count from where it starts
    assert moved.resume == str(latest) and moved.save == "m.npz" and moved.sample_every == 10
    assert moved.temperature == 0.5  # as the run samples now
    assert moved.changes == ()  # the checkpoint holds the model and schedule as trained
    assert not moved.finished
    trained_past = args.continued(latest, None, temperature=1.0)
    assert (trained_past.iters, trained_past.minutes) == (None, None) and not trained_past.finished
    assert args.continued(latest, (0, None), temperature=1.0).finished  # at the budget
    assert args.continued(latest, (None, 0.0), temperature=1.0).finished


def test_the_background_process_gets_the_users_flags_and_the_run_dir() -> None:
    args = TrainArgs.parse(
        ["alice", "--detach", "--iters", "50", "--save", "m.npz", "--lr", "0.05"]
    )
    argv = args.in_background(Path("runs/r")).to_argv()
    child = TrainArgs.parse(argv[1:])
    assert child.front_end == "background" and not child.detach
    assert child.run_dir == "runs/r"
    assert (child.iters, child.save, child.config_changes) == (50, "m.npz", {"lr": 0.05})
