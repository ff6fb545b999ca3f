"""What a viewer says to a run (commands) and what a run tells its viewers (events).

Both directions are plain dataclasses of JSON-native values, so the same objects travel
between threads (the in-process console) and, one versioned JSON object per line, over a
socket (a detached run). Nothing here imports Textual or numpy.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 1 << 20  # a longer line is garbage, not a message


class ProtocolError(ValueError):
    """A line that is not a message of this protocol."""


# -- commands (viewer -> run) -----------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    pass


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class SetTemperature:
    value: float


@dataclass(frozen=True)
class Sample:
    length: int
    prime: str = ""


@dataclass(frozen=True)
class Save:
    path: str


@dataclass(frozen=True)
class Load:
    path: str


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

    summary: str
    corpus: str
    iteration: int
    smooth_loss: float  # nats per character
    elapsed: float
    history: list[float]  # finite nats/char per point, already downsampled for the sparkline
    val_loss: float | None = None  # latest held-out nats/char, when the model has a split
    best_val_loss: float | None = None
    val_iteration: int | None = None  # `iteration` as it was when val_loss was measured


@dataclass
class SampleReady:
    iteration: int
    temperature: float
    loss: float
    text: str
    prime: str = ""
    requested: bool = False  # asked for by a key, not a periodic sample


@dataclass
class Welcome:
    """Everything a viewer needs to draw the run at once: sent first, to every viewer."""

    info: TrainerInfo
    paused: bool
    temperature: float
    sample_length: int
    diverged: bool = False
    samples: list[SampleReady] = field(default_factory=list)  # the most recent, oldest first

    def __post_init__(self) -> None:
        if isinstance(self.info, dict):
            self.info = TrainerInfo(**self.info)
        self.samples = [SampleReady(**s) if isinstance(s, dict) else s for s in self.samples]


@dataclass
class Progress:
    """A batch of training steps since the last report (posted at most a few times a second)."""

    iteration: int  # the next iteration to train
    losses: list[float]  # finite nats/char of each step in the batch
    smooth_loss: float
    chars_per_s: float
    elapsed: float
    val_loss: float | None = None
    val_iteration: int | None = None  # `iteration` as it was when val_loss was measured


@dataclass
class Notice:
    """A one-line report for the message line."""

    text: str
    severity: str = "information"  # "information", "warning" or "error"


@dataclass
class PausedChanged:
    """The run paused or resumed (by request, or by itself on divergence)."""

    paused: bool
    iteration: int
    diverged: bool = False


@dataclass
class TemperatureChanged:
    value: float


@dataclass
class Saved:
    path: str
    iteration: int
    reason: str  # "save", "autosave", "best" (new best held-out loss) or "exit"


@dataclass
class SnapshotReady:
    """A snapshot of the weights is in `path`; after a Step, `stats` says what the step did."""

    path: str
    iteration: int
    stats: dict[str, Any] | None = None


@dataclass
class Loaded:
    path: str
    info: TrainerInfo

    def __post_init__(self) -> None:
        if isinstance(self.info, dict):
            self.info = TrainerInfo(**self.info)


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
    )
}


def encode(message: Command | Event) -> bytes:
    """One JSON line: {"v": version, "type": class name, ...fields}."""
    body = {"v": PROTOCOL_VERSION, "type": type(message).__name__}
    body |= dataclasses.asdict(message)
    return json.dumps(body, allow_nan=True).encode("utf-8") + b"\n"


def decode(line: bytes | str) -> Command | Event:
    """The message on one line, or a ProtocolError saying why it is not one."""
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError("line too long")
    try:
        body: Any = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ProtocolError("not a JSON object")
    if body.pop("v", None) != PROTOCOL_VERSION:
        raise ProtocolError(f"not protocol version {PROTOCOL_VERSION}")
    cls = MESSAGE_TYPES.get(body.pop("type", None))  # type: ignore[arg-type]
    if cls is None:
        raise ProtocolError("unknown message type")
    try:
        return cls(**body)
    except TypeError as exc:
        raise ProtocolError(f"bad fields for {cls.__name__} ({exc})") from None
