"""What a viewer says to a run (commands) and what a run tells its viewers (events).

Both directions are plain dataclasses of JSON-native values, so the same objects travel
between threads (the in-process console) and, one versioned JSON object per line, over a
socket (a detached run). Nothing here imports Textual or numpy.

Every field of every message is checked when a line is decoded: its type, and the range,
finiteness or size its field declares (`Rule`). A line that fails is a ProtocolError naming
the field, so a run answers a bad command with a Notice and changes nothing, and a viewer
skips a bad event instead of drawing it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from engine.limits import MAX_PRIME_LENGTH, MAX_SAMPLE_LENGTH

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 1 << 20  # a longer line is garbage, not a message
# A Welcome is at most this long, whatever the run did: its recent samples are cut to fit.
MAX_WELCOME_BYTES = 256 << 10
MAX_PATH_CHARS = 4096  # Linux's PATH_MAX: a longer path names no file
MAX_TEXT_CHARS = 4096  # a one-line message (a Notice, a summary, a corpus name)
SEVERITIES = ("information", "warning", "error")


class ProtocolError(ValueError):
    """A line that is not a message of this protocol."""


@dataclass(frozen=True)
class Rule:
    """What a field's value must be beyond its type: at least `low`, above `above`, at most
    `high`, finite (a float that may not be NaN or infinite), at most `max_chars` (strings),
    one of `choices`, not empty."""

    low: float | None = None
    above: float | None = None
    high: float | None = None
    finite: bool = False
    max_chars: int | None = None
    choices: tuple[str, ...] | None = None
    non_empty: bool = False

    def problem(self, value: object) -> str | None:
        """Why `value` breaks this rule, or None."""
        if isinstance(value, float) and self.finite and not math.isfinite(value):
            return f"must be a finite number (got {value})"
        if isinstance(value, int | float) and not self._in_range(value):
            return f"must be {self._range_text()} (got {_shown(value)})"
        if isinstance(value, str):
            if self.non_empty and not value:
                return "must not be empty"
            if self.max_chars is not None and len(value) > self.max_chars:
                return f"must be at most {self.max_chars:,} characters (got {len(value):,})"
            if "\0" in value:
                return "must not hold a NUL character"
            if self.choices is not None and value not in self.choices:
                return f"must be one of {', '.join(self.choices)} (got {_shown(value)})"
        return None

    def _in_range(self, value: float) -> bool:
        low, above, high = self.low, self.above, self.high
        if math.isnan(value):
            return low is None and above is None and high is None
        return (
            (low is None or value >= low)
            and (above is None or value > above)
            and (high is None or value <= high)
        )

    def _range_text(self) -> str:
        if self.above is not None:
            return f"above {self.above:g}"
        if self.high is None:
            return f"{self.low:g} or more"
        return f"from {self.low:g} to {self.high:,}"


def _shown(value: object, limit: int = 60) -> str:
    """`value` as a message quotes it: a hostile value is not repeated at length."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rule(**limits: Any) -> Any:
    """A dataclass field (no default) checked by `Rule(**limits)` at decode."""
    return field(metadata={"rule": Rule(**limits)})


def ruled(default: Any, **limits: Any) -> Any:
    """A dataclass field with a default, checked by `Rule(**limits)` at decode."""
    return field(default=default, metadata={"rule": Rule(**limits)})


PATH = {"non_empty": True, "max_chars": MAX_PATH_CHARS}
TEXT = {"max_chars": MAX_TEXT_CHARS}
TEMPERATURE = {"above": 0, "finite": True}  # as --temperature: any positive finite number


# -- commands (viewer -> run) -----------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    pass


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class SetTemperature:
    value: float = rule(**TEMPERATURE)


@dataclass(frozen=True)
class Sample:
    length: int = rule(low=0, high=MAX_SAMPLE_LENGTH)
    prime: str = ruled("", max_chars=MAX_PRIME_LENGTH)


@dataclass(frozen=True)
class Save:
    path: str = rule(**PATH)


@dataclass(frozen=True)
class Load:
    path: str = rule(**PATH)


@dataclass(frozen=True)
class Stop:
    save: bool = True  # save the state to the run directory's latest.npz on the way out


@dataclass(frozen=True)
class Inspect:
    """Write a snapshot of the weights for the inspect screen (answered by SnapshotReady)."""


@dataclass(frozen=True)
class Step:
    """Train exactly one step, observed (a paused run only); answered by SnapshotReady."""


Command = Pause | Resume | SetTemperature | Sample | Save | Load | Stop | Inspect | Step


# -- events (run -> viewers) ------------------------------------------------------------------


@dataclass
class TrainerInfo:
    """What the screen shows about the model; re-sent whenever the model is swapped."""

    summary: str = rule(**TEXT)
    corpus: str = rule(**TEXT)
    iteration: int = rule(low=0)
    smooth_loss: float  # nats per character (NaN or infinite once a run diverged)
    elapsed: float = rule(low=0, finite=True)
    history: list[float]  # finite nats/char per point, already downsampled for the sparkline
    val_loss: float | None = None  # latest held-out nats/char, when the model has a split
    best_val_loss: float | None = None
    val_iteration: int | None = None  # `iteration` as it was when val_loss was measured
    lr: float | None = ruled(None, low=0, finite=True)  # the rate the next step trains at
    # The training time (`elapsed`) at which the run's time budget ends, if it has one.
    budget_seconds: float | None = ruled(None, low=0, finite=True)


@dataclass
class SampleReady:
    iteration: int = rule(low=0)
    temperature: float = rule(**TEMPERATURE)
    loss: float
    text: str
    prime: str = ""
    requested: bool = False  # asked for by a key, not a periodic sample


@dataclass
class Welcome:
    """Everything a viewer needs to draw the run at once: sent first, to every viewer."""

    info: TrainerInfo
    paused: bool
    temperature: float = rule(**TEMPERATURE)
    sample_length: int = rule(low=0, high=MAX_SAMPLE_LENGTH)
    diverged: bool = False
    samples: list[SampleReady] = field(default_factory=list)  # the most recent, oldest first

    def __post_init__(self) -> None:
        if isinstance(self.info, dict):
            self.info = TrainerInfo(**self.info)
        self.samples = [SampleReady(**s) if isinstance(s, dict) else s for s in self.samples]


@dataclass
class Progress:
    """A batch of training steps since the last report (posted at most a few times a second)."""

    iteration: int = rule(low=0)  # the next iteration to train
    losses: list[float]  # finite nats/char of each step in the batch
    smooth_loss: float
    chars_per_s: float = rule(low=0, finite=True)
    elapsed: float = rule(low=0, finite=True)
    val_loss: float | None = None
    val_iteration: int | None = None  # `iteration` as it was when val_loss was measured
    lr: float | None = ruled(None, low=0, finite=True)  # the rate the next step trains at


@dataclass
class Notice:
    """A one-line report for the message line."""

    text: str = rule(**TEXT)
    severity: str = ruled("information", choices=SEVERITIES)

    def __post_init__(self) -> None:
        if len(self.text) > MAX_TEXT_CHARS:  # a message naming a long path, say: still one line
            self.text = self.text[: MAX_TEXT_CHARS - 1] + "…"


@dataclass
class PausedChanged:
    """The run paused or resumed (by request, or by itself on divergence)."""

    paused: bool
    iteration: int = rule(low=0)
    diverged: bool = False


@dataclass
class TemperatureChanged:
    value: float = rule(**TEMPERATURE)


@dataclass
class Saved:
    path: str = rule(**PATH)
    iteration: int = rule(low=0)
    reason: str = rule(**TEXT)  # "save", "autosave", "best" (new best held-out loss) or "exit"


@dataclass
class SnapshotReady:
    """A snapshot of the weights is in `path`; after a Step, `stats` says what the step did."""

    path: str = rule(**PATH)
    iteration: int = rule(low=0)
    stats: dict[str, Any] | None = None


@dataclass
class Loaded:
    path: str = rule(**PATH)
    info: TrainerInfo

    def __post_init__(self) -> None:
        if isinstance(self.info, dict):
            self.info = TrainerInfo(**self.info)


@dataclass
class Heartbeat:
    """Sent every few seconds to each viewer by a detached run's socket server, whatever the
    training does: a viewer that hears nothing at all knows the process is not answering."""


@dataclass
class Ended:
    """A detached run's last word to its viewers before it closes their connections."""

    state: str = rule(choices=("finished", "stopped", "crashed"))
    iteration: int = rule(low=0)
    reason: str = ruled("", **TEXT)


Event = (
    Welcome
    | Progress
    | SampleReady
    | Notice
    | PausedChanged
    | TemperatureChanged
    | Saved
    | Loaded
    | SnapshotReady
    | Heartbeat
    | Ended
)

MESSAGE_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        Pause,
        Resume,
        SetTemperature,
        Sample,
        Save,
        Load,
        Stop,
        Inspect,
        Step,
        Welcome,
        Progress,
        SampleReady,
        Notice,
        PausedChanged,
        TemperatureChanged,
        Saved,
        Loaded,
        SnapshotReady,
        Heartbeat,
        Ended,
    )
}


def encode(message: Command | Event) -> bytes:
    """One JSON line: {"v": version, "type": class name, ...fields}."""
    body = {"v": PROTOCOL_VERSION, "type": type(message).__name__}
    body |= dataclasses.asdict(message)
    return json.dumps(body, allow_nan=True).encode("utf-8") + b"\n"


def fit_welcome(welcome: Welcome, max_bytes: int = MAX_WELCOME_BYTES) -> Welcome:
    """`welcome` with as many of its recent samples as fit in a line of `max_bytes`: the
    oldest are left out first, and the newest, if it alone is too long, is cut short."""
    room = max_bytes - len(encode(dataclasses.replace(welcome, samples=[])))
    kept: list[SampleReady] = []
    for sample in reversed(welcome.samples):
        size = _json_size(sample) + 2  # and the ", " between two samples
        if size > room:
            cut = None if kept else _cut_to(sample, room - 2)
            kept += [cut] if cut is not None else []
            break
        kept.append(sample)
        room -= size
    return dataclasses.replace(welcome, samples=kept[::-1])


def _cut_to(sample: SampleReady, room: int) -> SampleReady | None:
    """The longest beginning of `sample` (its prime cut with it) that encodes in `room`."""
    if _json_size(_cut(sample, 0)) > room:
        return None
    short, long = 0, len(sample.text)
    while short < long:  # the longest k whose cut fits
        k = (short + long + 1) // 2
        if _json_size(_cut(sample, k)) <= room:
            short = k
        else:
            long = k - 1
    return _cut(sample, short)


def _cut(sample: SampleReady, k: int) -> SampleReady:
    return dataclasses.replace(sample, text=sample.text[:k], prime=sample.prime[:k])


def _json_size(message: object) -> int:
    return len(json.dumps(dataclasses.asdict(message), allow_nan=True))  # type: ignore[call-overload]


def from_fields(cls: type[Any], body: dict[str, Any]) -> Any:
    """A message of type `cls` from its fields (a record read back from a file, say), checked
    as decode checks a line: a ProtocolError if any field is wrong."""
    return _build(cls, dict(body), cls.__name__)


def decode(line: bytes | str) -> Command | Event:
    """The message on one line, or a ProtocolError saying why it is not one."""
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError("line too long")
    try:
        body: Any = json.loads(line)
    except ValueError as exc:  # not UTF-8, not JSON, or a number too long to read
        raise ProtocolError(f"not JSON ({_shown(exc)})") from None
    except RecursionError:
        raise ProtocolError("not JSON (nested too deeply)") from None
    if not isinstance(body, dict):
        raise ProtocolError("not a JSON object")
    if body.pop("v", None) != PROTOCOL_VERSION:
        raise ProtocolError(f"not protocol version {PROTOCOL_VERSION}")
    name = body.pop("type", None)
    cls = MESSAGE_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ProtocolError("unknown message type")
    return _build(cls, body, cls.__name__)


def _build(cls: type, body: object, where: str) -> Any:
    """An instance of the dataclass `cls` from a JSON object, every field checked."""
    if not isinstance(body, dict):
        raise ProtocolError(f"{where}: must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise ProtocolError(f"{where}: no field {_shown(unknown[0])}")
    hints = _hints(cls)
    values = {}
    for name, value in body.items():
        at = f"{where}.{name}"
        values[name] = checked = _typed(value, hints[name], at)
        rule = fields[name].metadata.get("rule")
        if rule is not None and (problem := rule.problem(checked)):
            raise ProtocolError(f"{at} {problem}")
    missing = [n for n, f in fields.items() if n not in values and _required(f)]
    if missing:
        raise ProtocolError(f"{where}: missing field {missing[0]!r}")
    return cls(**values)


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _typed(value: object, hint: Any, where: str) -> Any:
    """`value` if it has the type `hint` names (ints pass as floats; nested dataclasses are
    built), else a ProtocolError naming the field."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):  # X | None: the only unions used
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _typed(value, hint, where)
    if origin is list and isinstance(value, list):
        return [_typed(item, args[0], f"{where}[{i}]") for i, item in enumerate(value)]
    if origin is dict and isinstance(value, dict):
        return value  # free-form JSON (its reader checks it)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _build(hint, value, where)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and type(value) is hint:
        return value
    raise ProtocolError(f"{where} must be {_type_name(hint, origin)} (got {type(value).__name__})")


def _type_name(hint: Any, origin: Any) -> str:
    if origin is not None:
        return {list: "a list", dict: "an object"}.get(origin, str(hint))
    names = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))
