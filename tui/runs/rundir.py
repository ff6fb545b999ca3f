"""A training run's directory: checkpoints and metrics.jsonl live together.

runs/<corpus>-<YYYYmmdd-HHMMSS>/
  latest.npz      the state when the run last stopped, quit or autosaved
  best.npz        the checkpoint with the best validation loss so far (when there is a split)
  <name>.npz      saves the user asked for
  metrics.jsonl   one JSON object per line: {iteration, loss, chars_per_s, time, wall}
                  every 100 iterations, {iteration, val_loss} after each evaluation
  samples.jsonl   every sample: {iteration, temperature, loss, text, prime, requested}
  run.json        the run's status, written by every run (console, headless with a run
                  directory, detached): pid, live or stopped (and why), iteration, loss
  control.sock    a detached run's Unix socket (mode 0600: only its owner can steer it)
  run.log         what a detached run printed
  inspect.npz     the weights snapshot a viewer's inspect screen reads
  lock            locked by the process that owns the run while it lives (tui/runs/lock.py)

Everything a run writes is its owner's alone: the directory is made 0700 and every file in it
0600 (checkpoints, records, run.json, run.log, the socket), whatever the umask. Samples and
checkpoints can hold what the corpus held. A directory that already existed keeps its mode.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from engine.errors import CharrnnError

LATEST = "latest.npz"
BEST = "best.npz"
METRICS = "metrics.jsonl"
SAMPLES = "samples.jsonl"
STATUS = "run.json"
SOCKET = "control.sock"
LOG = "run.log"
SNAPSHOT = "inspect.npz"
LOCK = "lock"
# The run's own records: no save ever replaces them (a checkpoint has names of its own).
RECORDS = (METRICS, SAMPLES, STATUS, SOCKET, LOG, SNAPSHOT, LOCK)
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


@dataclass
class RunDir:
    path: Path

    @classmethod
    def default_for(cls, corpus_name: str, root: Path = Path("runs")) -> RunDir:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return cls(root / f"{corpus_name}-{stamp}")

    def create(self) -> RunDir:
        """Make the directory (and parents), or a CharrnnError saying why it can't be."""
        if self.path.exists() and not self.path.is_dir():
            raise CharrnnError(f"run directory {self.path}: exists and is not a directory")
        try:
            self.path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        except OSError as exc:
            raise CharrnnError(
                f"run directory {self.path}: cannot create ({exc.strerror})"
            ) from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise CharrnnError(f"run directory {self.path}: not writable")
        return self

    @property
    def latest(self) -> Path:
        return self.path / LATEST

    @property
    def best(self) -> Path:
        return self.path / BEST

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def samples(self) -> Path:
        return self.path / SAMPLES

    @property
    def status_file(self) -> Path:
        return self.path / STATUS

    @property
    def socket(self) -> Path:
        return self.path / SOCKET

    @property
    def log(self) -> Path:
        return self.path / LOG

    @property
    def lock(self) -> Path:
        return self.path / LOCK

    def checkpoints(self) -> list[Path]:
        """The .npz files here, newest first."""
        found = [p for p in self.path.glob("*.npz") if p.is_file()]
        return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)

    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        """Append one JSON line per record. An OSError (a full disk) is raised for the caller
        to report and train on: it must neither stop training nor be swallowed silently."""
        append_jsonl(self.metrics, records)

    def append_samples(self, records: list[dict[str, Any]]) -> None:
        append_jsonl(self.samples, records)

    def recent_samples(self, count: int) -> list[dict[str, Any]]:
        """The last `count` sample records, skipping any line that is not one."""
        try:
            lines = self.samples.read_text(encoding="utf-8").splitlines()[-count:]
        except (OSError, UnicodeDecodeError):
            return []
        found = []
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                found.append(record)
        return found


def append_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    if not records:
        return
    with open_private(path) as f:
        f.write("".join(json.dumps(record) + "\n" for record in records).encode("utf-8"))


def open_private(path: Path, *, append: bool = True) -> BinaryIO:
    """`path` opened for writing (appending, or from empty), created owner-only (0600)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, PRIVATE_FILE), "ab" if append else "wb")
