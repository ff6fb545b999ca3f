"""The run protocol's limits, message by message: every field of every command is checked at
decode (type, range, finiteness, size), a viewer skips an event it cannot read, and a Welcome
fits one line whatever the run sampled."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from console_support import make_session

from engine.limits import MAX_PRIME_LENGTH, MAX_SAMPLE_LENGTH
from tui.runs.protocol import (
    MAX_LINE_BYTES,
    MAX_WELCOME_BYTES,
    Inspect,
    Load,
    Loaded,
    Notice,
    Pause,
    PausedChanged,
    Progress,
    ProtocolError,
    Resume,
    Sample,
    SampleReady,
    Save,
    Saved,
    SetTemperature,
    SnapshotReady,
    Step,
    Stop,
    TemperatureChanged,
    TrainerInfo,
    Welcome,
    decode,
    encode,
)
from tui.runs.rundir import RunDir


def line(kind: str, **fields: object) -> bytes:
    return json.dumps({"v": 1, "type": kind, **fields}).encode() + b"\n"


BAD_COMMANDS = [
    # The cases: each of these was taken as a temperature.
    (line("SetTemperature", value=0), "SetTemperature.value must be above 0"),
    (line("SetTemperature", value=-1), "SetTemperature.value must be above 0"),
    (b'{"v": 1, "type": "SetTemperature", "value": Infinity}', "must be a finite number"),
    (b'{"v": 1, "type": "SetTemperature", "value": NaN}', "must be a finite number"),
    (line("SetTemperature", value="1.0"), "SetTemperature.value must be a number (got str)"),
    (line("SetTemperature", value=True), "SetTemperature.value must be a number (got bool)"),
    (line("SetTemperature"), "missing field 'value'"),
    (line("Sample", length=1_100_000), f"Sample.length must be from 0 to {MAX_SAMPLE_LENGTH:,}"),
    (line("Sample", length=-1), "Sample.length must be from 0"),
    (line("Sample", length=2.5), "Sample.length must be a whole number (got float)"),
    (line("Sample", length=10, prime=7), "Sample.prime must be a string (got int)"),
    (line("Sample", length=10, prime="a" * (MAX_PRIME_LENGTH + 1)), "Sample.prime must be at most"),
    (line("Save", path=""), "Save.path must not be empty"),
    (line("Save", path="x" * 5000), "Save.path must be at most 4,096 characters"),
    (line("Save", path="a\0b.npz"), "Save.path must not hold a NUL character"),
    (line("Save", path=["a.npz"]), "Save.path must be a string (got list)"),
    (line("Load", path=None), "Load.path must be a string (got NoneType)"),
    (line("Stop", save=1), "Stop.save must be true or false (got int)"),
    (line("Pause", extra=1), "Pause: no field 'extra'"),
    (line("Sample", length=10**5000 // 10**4990), "Sample.length must be from 0"),
    (b'{"v": 1, "type": ["Pause"]}', "unknown message type"),
    (b'{"v": 1, "type": "Sample", "length": ' + b"9" * 5000 + b"}", "not JSON"),
    (b"[" * 200_000, "not JSON (nested too deeply)"),
]


@pytest.mark.parametrize(("raw", "says"), BAD_COMMANDS, ids=range(len(BAD_COMMANDS)))
def test_every_bad_field_of_a_command_is_refused_at_decode(raw: bytes, says: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        decode(raw)
    assert says in str(refused.value)
    assert len(str(refused.value)) < 200  # a hostile value is never echoed at length


GOOD_COMMANDS = [
    Pause(),
    Resume(),
    SetTemperature(0.5),
    Sample(MAX_SAMPLE_LENGTH, "p" * MAX_PRIME_LENGTH),
    Sample(0),
    Save("/tmp/model.npz"),
    Load("model.npz"),
    Stop(save=False),
    Inspect(),
    Step(),
]


@pytest.mark.parametrize("command", GOOD_COMMANDS, ids=lambda c: type(c).__name__)
def test_every_good_command_survives_the_checks(command: object) -> None:
    assert decode(encode(command)) == command  # type: ignore[arg-type]


def info(**changes: object) -> TrainerInfo:
    fields = dict(summary="rnn 8", corpus="blog_sample", iteration=3, smooth_loss=2.5,
                  elapsed=1.0, history=[2.9, 2.7], val_loss=None, best_val_loss=None)  # fmt: skip
    return TrainerInfo(**(fields | changes))  # type: ignore[arg-type]


GOOD_EVENTS = [
    Welcome(
        info(),
        paused=False,
        temperature=1.0,
        sample_length=200,
        samples=[SampleReady(1, 1.0, 2.0, "hi", "h", True)],
    ),
    # A diverged run's smoothed loss is not finite; its Welcome must still reach viewers.
    Welcome(
        info(smooth_loss=math.inf), paused=True, temperature=0.7, sample_length=0, diverged=True
    ),
    Progress(5, [2.0, 1.9], 1.95, 1000.0, 2.0, val_loss=2.1),
    Notice("saved", "warning"),
    PausedChanged(True, 4, diverged=True),
    TemperatureChanged(1.2),
    Saved("/tmp/m.npz", 4, "exit"),
    SnapshotReady("/tmp/inspect.npz", 4, {"iteration": 4}),
    Loaded("/tmp/m.npz", info()),
]


@pytest.mark.parametrize("event", GOOD_EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_a_run_sends_decodes(event: object) -> None:
    decoded = decode(encode(event))  # type: ignore[arg-type]
    assert encode(decoded) == encode(event)  # type: ignore[arg-type]


BAD_EVENTS = [
    (line("Progress", iteration=1, losses=["x"], smooth_loss=1.0, chars_per_s=1.0, elapsed=1.0),
     "Progress.losses[0] must be a number"),
    (line("Progress", iteration=-4, losses=[], smooth_loss=1.0, chars_per_s=1.0, elapsed=1.0),
     "Progress.iteration must be 0 or more"),
    (line("Notice", text="hello", severity="panic"), "Notice.severity must be one of"),
    (line("Notice", text=["hello"]), "Notice.text must be a string"),
    (line("Welcome", info={"summary": "x"}, paused=False, temperature=1.0, sample_length=1),
     "Welcome.info: missing field"),
    (line("Welcome", info="x", paused=False, temperature=1.0, sample_length=1),
     "Welcome.info: must be a JSON object"),
    (line("TemperatureChanged", value=float("nan")), "must be a finite number"),
    (line("SampleReady", iteration=1, temperature=1.0, loss=1.0, text=None),
     "SampleReady.text must be a string"),
    (line("SnapshotReady", path="/tmp/x", iteration=1, stats=[1]),
     "SnapshotReady.stats must be an object"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "says"), BAD_EVENTS, ids=range(len(BAD_EVENTS)))
def test_a_malformed_event_is_a_protocol_error_that_a_viewer_skips(raw: bytes, says: str) -> None:
    with pytest.raises(ProtocolError, match=says.replace("[", r"\[")):
        decode(raw)


def test_a_long_notice_still_travels_as_one_readable_line() -> None:
    notice = Notice("save failed: " + "/very/long" * 2000)
    assert decode(encode(notice)) == notice  # cut to fit the rule, not refused by viewers


# -- the Welcome fits a line --------------------------------------------------------------


ASTRAL = "\U0001d538"  # escaped in JSON as a surrogate pair: 12 bytes, the most any char costs


def worst_sample(iteration: int) -> dict[str, object]:
    prime = ASTRAL * MAX_PRIME_LENGTH
    text = prime + ASTRAL * MAX_SAMPLE_LENGTH
    return dataclasses.asdict(SampleReady(iteration, 1.0, 2.0, text, prime, True))


def write_samples(run_dir: RunDir, records: list[dict[str, object]]) -> None:
    run_dir.create()
    run_dir.append_samples(records)


def test_twenty_samples_of_the_longest_kind_still_make_a_welcome_that_fits(tmp_path) -> None:
    """The issue's case, at its worst: twenty samples of the most each may hold, every
    character as costly as JSON makes one. On reattaching, the Welcome still fits a line,
    and the newest sample is in it."""
    run_dir = RunDir(tmp_path / "run")
    write_samples(run_dir, [worst_sample(i) for i in range(20)])
    welcome = make_session(run_dir.path).welcome()
    sent = encode(welcome)
    assert len(sent) <= MAX_WELCOME_BYTES <= MAX_LINE_BYTES
    received = decode(sent)
    assert isinstance(received, Welcome) and received.samples
    newest = received.samples[-1]
    assert (
        newest.iteration == 19 and newest.text and worst_sample(19)["text"].startswith(newest.text)
    )


def test_a_sample_longer_than_a_line_from_an_old_run_is_cut_not_fatal(tmp_path) -> None:
    """samples.jsonl written before the limit (a 1,100,000-character sample), or by hand."""
    run_dir = RunDir(tmp_path / "run")
    huge = dataclasses.asdict(SampleReady(7, 1.0, 2.0, "ab" * 550_000))
    garbage = {"iteration": "seven", "text": 5}
    write_samples(run_dir, [dataclasses.asdict(SampleReady(6, 1.0, 2.0, "older")), huge, garbage])
    welcome = decode(encode(make_session(run_dir.path).welcome()))
    assert isinstance(welcome, Welcome)
    assert [s.iteration for s in welcome.samples] == [7]  # the newest, cut; the older left out
    assert welcome.samples[0].text.startswith("abab") and len(welcome.samples[0].text) > 10_000


def test_recent_samples_that_fit_are_all_kept(tmp_path) -> None:
    run_dir = RunDir(tmp_path / "run")
    records = [dataclasses.asdict(SampleReady(i, 1.0, 2.0, f"sample {i}")) for i in range(30)]
    write_samples(run_dir, records)
    welcome = make_session(run_dir.path).welcome()
    assert [s.text for s in welcome.samples] == [f"sample {i}" for i in range(10, 30)]
