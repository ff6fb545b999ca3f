"""A run's loss curves as its directory records them, and what the run was.

metrics.jsonl (see tui/runs/rundir.py) holds one JSON object a line:
  {"iteration", "loss", "chars_per_s", "time", "wall"}  smoothed training loss, nats/char
  {"iteration", "val_loss"}                            held-out loss after that iteration
A run still training appends to it, so it is followed: each poll reads the complete lines
added since the last, and a line that cannot be read is skipped and counted, never fatal.
Only regular files are ever opened (engine.files.open_regular): a FIFO or a device put in
a run directory while it is followed is a file that cannot be read, not a hang.
run.json, written beside it when a run starts, says which preset and configuration made it;
runs without one are described from their checkpoint's configuration.
"""

from __future__ import annotations

import bisect
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import PRESETS, Config, describe
from engine.errors import CharrnnError
from engine.files import open_regular
from engine.schedule import Budget
from engine.smoothing import LossSmoother, bias_corrected, smoothed_series, start_value
from tui.runs.rundir import BEST, LATEST, METRICS

RUN_INFO = "run.json"
POLL_SECONDS = 0.5  # how often a followed metrics.jsonl is looked at (one stat when unchanged)
MAX_RUN_INFO_BYTES = 1 << 20  # run.json is a few hundred bytes; more is not one


@dataclass(frozen=True)
class TrainPoint:
    iteration: int
    loss: float  # smoothed training loss, nats/char
    time: float | None = None  # training seconds so far, when recorded


@dataclass(frozen=True)
class ValPoint:
    iteration: int
    loss: float  # held-out nats/char


Point = TrainPoint | ValPoint


class RunMetrics:
    """The training and held-out curves of one run, by iteration.

    Records normally arrive in order. One at an earlier iteration than those before it means
    the run went back (a checkpoint was loaded): it replaces the points after it, so the
    curve is the history of the model as it now is.
    """

    def __init__(self) -> None:
        self.train: list[TrainPoint] = []
        self.val: list[ValPoint] = []
        self.version = 0  # bumped on every change: a view redraws when it moved

    def add_train(self, iteration: int, loss: float, time: float | None = None) -> None:
        self.add(TrainPoint(iteration, loss, time))

    def add_val(self, iteration: int, loss: float) -> None:
        self.add(ValPoint(iteration, loss))

    def add(self, point: Point) -> None:
        same, other = (
            (self.train, self.val) if isinstance(point, TrainPoint) else (self.val, self.train)
        )
        _drop_from(same, point.iteration)  # this kind: the new point replaces one at n too
        _drop_from(other, point.iteration + 1)  # a val record at n follows the train one at n
        same.append(point)  # type: ignore[arg-type]
        self.version += 1

    def clear(self) -> None:
        self.train.clear()
        self.val.clear()
        self.version += 1

    @property
    def best_val(self) -> ValPoint | None:
        return min(self.val, key=lambda p: p.loss, default=None)

    @property
    def last_iteration(self) -> int | None:
        ends = [points[-1].iteration for points in (self.train, self.val) if points]
        return max(ends, default=None)


def _drop_from(points: list, iteration: int) -> None:
    """Remove the points at `iteration` and after (a no-op in the usual, in-order case)."""
    if points and points[-1].iteration >= iteration:
        del points[bisect.bisect_left(points, iteration, key=lambda p: p.iteration) :]


def train_record(
    iteration: int, loss: float, chars_per_s: float, time: float, wall: float
) -> dict[str, float]:
    """The metrics.jsonl record of the smoothed training loss (nats/char) after `iteration`:
    one definition for every writer (console, headless) and for `parse_record`."""
    return {
        "iteration": iteration,
        "loss": round(loss, 6),
        "chars_per_s": round(chars_per_s, 1),
        "time": round(time, 3),
        "wall": round(wall, 3),
    }


def val_record(iteration: int, val_loss: float) -> dict[str, float]:
    """The metrics.jsonl record of the held-out loss (nats/char) measured after `iteration`."""
    return {"iteration": iteration, "val_loss": round(val_loss, 6)}


def history_records(
    losses_per_char: Iterable[float],
    val_history: Iterable[tuple[int, float]],
    config: Config,
    vocab_size: int,
    every: int = 100,
    *,
    block: int = 1,
    iterations: int | None = None,
) -> list[dict[str, float]]:
    """metrics.jsonl records for a checkpoint's history (its loss history and its held-out
    evaluations): the run policy writes them into a new run directory on resume, so the
    curves view and compare show the whole run. No training time is known for them, so
    they carry none. A long run's history holds means of `block` iterations each (see
    engine/history.py; `iterations` in all): its records then fall at block ends."""
    if block == 1:
        smoothed = smoothed_series(losses_per_char, config, vocab_size, every)
    else:
        smoothed = _smoothed_blocks(losses_per_char, config, vocab_size, every, block, iterations)
    records = [{"iteration": n, "loss": round(v, 6)} for n, v in smoothed]
    records += [val_record(n, v) for n, v in val_history]
    return sorted(records, key=lambda r: (r["iteration"], "val_loss" in r))


def _smoothed_blocks(
    means: Iterable[float],
    config: Config,
    vocab_size: int,
    every: int,
    block: int,
    iterations: int | None,
) -> list[tuple[int, float]]:
    """The smoothed curve through block means, each taken as `block` equal losses (the
    moving average of k equal losses has a closed form), at most one point per `every`."""
    smoother = LossSmoother(start_value(vocab_size), bias_corrected(config))
    points: list[tuple[int, float]] = []
    done = 0
    for mean in means:
        k = block if iterations is None else min(block, iterations - done)
        kept = smoother.decay**k
        smoother.raw = smoother.raw * kept + float(mean) * (1.0 - kept)
        smoother.count += k
        done += k
        if not points or (done - 1) // every > points[-1][0] // every:
            points.append((done - 1, smoother.value))
    return points


def parse_record(line: str) -> Point | None:
    """One metrics.jsonl line as a point; None for a record of another kind (ignored, for
    records later versions may add); ValueError, with the reason, for an unreadable one."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # a number too long to read, or nested too deeply
        raise ValueError("not JSON") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    iteration = record.get("iteration")
    if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
        raise ValueError("no iteration number")
    if "val_loss" in record:
        return ValPoint(iteration, _finite(record, "val_loss"))
    if "loss" in record:
        time = _finite(record, "time") if record.get("time") is not None else None
        return TrainPoint(iteration, _finite(record, "loss"), time)
    return None


def _finite(record: dict[str, Any], key: str) -> float:
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key} is not a finite number")
    return float(value)


class MetricsFile:
    """A metrics.jsonl followed as its run appends to it.

    `poll()` reads only complete lines (a run may be half-way through writing the last) and
    only when the file's size or modification time changed, so polling twice a second costs
    one stat. A file that shrank or was replaced is read again from the start.
    """

    def __init__(self, path: Path, metrics: RunMetrics | None = None) -> None:
        self.path = path
        self.metrics = metrics if metrics is not None else RunMetrics()
        self.offset = 0  # bytes consumed: up to the last complete line read
        self.lines = 0  # complete lines read
        self.skipped = 0  # of which unreadable
        self.first_skipped: str | None = None  # "line 7: not JSON"
        self._seen: tuple[int, int, int] | None = None

    def poll(self) -> bool:
        """Read what was added since the last poll; True if the curves changed. OSError
        (the file vanished or is unreadable) and CharrnnError (it is no longer a regular
        file) propagate: the caller decides if it matters."""
        stat = os.stat(self.path)
        seen = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if seen == self._seen:
            return False
        with open_regular(self.path, "a metrics file") as f:  # before forgetting any curve
            if self._seen is not None and (
                stat.st_ino != self._seen[0] or stat.st_size < self.offset
            ):
                self._restart()
            self._seen = seen
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        before = self.metrics.version
        for raw in complete.splitlines():
            self._take(raw)
        return self.metrics.version != before

    def _take(self, raw: bytes) -> None:
        self.lines += 1
        if not raw.strip():
            return
        try:
            point = parse_record(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
            self.skipped += 1
            if self.first_skipped is None:
                self.first_skipped = f"line {self.lines}: {reason}"
            return
        if point is not None:
            self.metrics.add(point)

    def _restart(self) -> None:
        self.offset = self.lines = self.skipped = 0
        self.first_skipped = None
        self.metrics.clear()

    def skipped_note(self) -> str | None:
        """One line on the unreadable lines, or None when there were none."""
        if not self.skipped:
            return None
        lines = "line" if self.skipped == 1 else "lines"
        return f"{self.path}: skipped {self.skipped} unreadable {lines} ({self.first_skipped})"


# -- what made the run ------------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    preset: str | None = None
    config: Config | None = None
    budget: Budget | None = None  # where the run ends, when it was given a budget

    @property
    def chars_per_iteration(self) -> int | None:
        """Characters trained on per iteration (batch x window), when the config is known."""
        return self.config.batch * self.config.seq_length if self.config else None

    def describe(self) -> str:
        """The preset and the hyper-parameters that tell runs apart, on one short line."""
        if self.config is None:
            return self.preset or "unknown configuration"
        described = describe(self.config)
        return f"{self.preset}: {described}" if self.preset else described


def preset_of(config: Config) -> str | None:
    """The preset whose configuration this is exactly, if any."""
    return next((name for name, (cfg, _) in PRESETS.items() if cfg == config), None)


def read_run_info(run_dir: Path) -> RunInfo:
    """run.json if it is there and readable, else the configuration of the run's latest (or
    best) checkpoint, else nothing known: a legend without details is no reason to fail."""
    info = _from_run_json(run_dir / RUN_INFO)
    if info is not None:
        return info
    from engine import checkpoint  # only when there is no run.json: it reads a whole .npz

    for name in (LATEST, BEST):
        path = run_dir / name
        if path.is_file():
            try:
                config = checkpoint.load(path).config
            except (CharrnnError, OSError):
                continue
            return RunInfo(preset_of(config), config)
    return RunInfo()


def _from_run_json(path: Path) -> RunInfo | None:
    try:
        with open_regular(path, "a run's status") as f:
            data = json.loads(f.read(MAX_RUN_INFO_BYTES).decode("utf-8"))
        config = Config.described(data["config"]) if data.get("config") else None
        preset = data.get("preset")

    # Missing or unreadable (ValueError: bad JSON, bad UTF-8, CharrnnError for a bad config
    # or what is not a regular file): the checkpoint may still say.
    except (OSError, ValueError, TypeError, AttributeError, KeyError, RecursionError):
        return None
    if preset is not None and not isinstance(preset, str):
        preset = None
    return RunInfo(preset or (preset_of(config) if config else None), config, _budget(data))


def _budget(data: dict[str, Any]) -> Budget | None:
    """run.json's budget; one that cannot be read marks nothing (the rest is still shown)."""
    try:
        return Budget.from_dict(data["budget"]) if data.get("budget") else None
    except CharrnnError:
        return None


# -- a run directory as compare and the curves view see it -------------------------------


@dataclass
class RunCurves:
    """One run's curves and description; `source` is the file it follows, if any (a console
    feeding its own curves has none)."""

    name: str
    info: RunInfo = field(default_factory=RunInfo)
    metrics: RunMetrics = field(default_factory=RunMetrics)
    source: MetricsFile | None = None

    def poll(self) -> bool:
        """Read what the run appended; a file that went away keeps the curves shown."""
        if self.source is None:
            return False
        try:
            return self.source.poll()
        except (OSError, CharrnnError):
            return False


def follow_run(run_dir: Path, info: RunInfo | None = None) -> RunCurves:
    """A run to follow from its directory even before its metrics.jsonl exists (a console
    that has just started): curves appear as the run writes them."""
    run_dir = Path(run_dir)
    info = info if info is not None else read_run_info(run_dir)
    metrics = RunMetrics()
    run = RunCurves(run_dir.name, info, metrics, MetricsFile(run_dir / METRICS, metrics))
    run.poll()
    return run


def open_run(path: Path) -> RunCurves:
    """A run directory (or its metrics.jsonl) read once, ready to follow; CharrnnError if it
    has no metrics to show."""
    path = Path(path)
    if path.suffix == ".jsonl" and path.exists() and not path.is_dir():  # a FIFO: said below
        run_dir, metrics_path = path.parent, path
    elif path.is_dir():
        run_dir, metrics_path = path, path / METRICS
    elif path.exists():
        raise CharrnnError(f"{path}: not a run directory")
    else:
        raise CharrnnError(f"{path}: no such run directory")
    if not metrics_path.exists():
        raise CharrnnError(
            f"{run_dir}: no {METRICS} (console runs write one; headless runs with --run-dir)"
        )
    source = MetricsFile(metrics_path)
    try:
        source.poll()  # a CharrnnError (not a regular file) says so as it is
    except OSError as exc:
        raise CharrnnError(f"{metrics_path}: cannot read ({exc.strerror or exc})") from None
    if source.skipped and not (source.metrics.train or source.metrics.val):
        raise CharrnnError(f"{metrics_path}: no readable records ({source.first_skipped})")
    name = run_dir.resolve().name
    return RunCurves(name, read_run_info(run_dir), source.metrics, source)
