"""Reading a corpus with clear errors, the train/validation split, and batch streams."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import CharrnnError
from engine.files import check_regular_file

BINARY_SNIFF_BYTES = 8192
# The text, its ids and the windows all live in memory: about 3x the file at 1 byte per id.
MAX_CORPUS_BYTES = 2 * 1024**3
FINGERPRINT_CHUNK = 1 << 22


def read_text(path: Path) -> str:
    """A UTF-8 text file's contents, or a CharrnnError saying exactly why not."""
    raw = b""
    size = check_regular_file(path, "a text file").st_size
    if size <= MAX_CORPUS_BYTES:
        try:
            with path.open("rb") as f:
                raw = f.read(MAX_CORPUS_BYTES + 1)  # a file growing as we read stays bounded
        except OSError as exc:
            raise CharrnnError(f"{path}: cannot read: {exc.strerror}") from None
    if max(size, len(raw)) > MAX_CORPUS_BYTES:
        raise CharrnnError(
            f"{path}: larger than charrnn trains on (at most {MAX_CORPUS_BYTES / 1e9:.1f} GB: "
            "the text and its ids are held in memory)"
        )
    if not raw:
        raise CharrnnError(f"{path}: file is empty")
    nul = raw.find(b"\0", 0, BINARY_SNIFF_BYTES)
    if nul >= 0:
        raise CharrnnError(f"{path}: looks like a binary file (NUL byte at offset {nul})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start]
        raise CharrnnError(
            f"{path}: not valid UTF-8 (byte 0x{bad:02x} at offset {exc.start})"
        ) from None
    return text.removeprefix("\ufeff")


def fingerprint(text: str) -> str:
    """SHA-256 of the text's UTF-8, encoded a chunk at a time (no second copy of a corpus)."""
    digest = hashlib.sha256()
    for start in range(0, len(text), FINGERPRINT_CHUNK):
        digest.update(text[start : start + FINGERPRINT_CHUNK].encode("utf-8"))
    return digest.hexdigest()


def split(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The first (1 - val_fraction) for training, the rest held out (nanoGPT's 90/10 style)."""
    if val_fraction <= 0:
        return ids, ids[:0]
    n_train = int(len(ids) * (1 - val_fraction))
    return ids[:n_train], ids[n_train:]


@dataclass
class BatchStream:
    """B cursors evenly spaced over the data, each reading its own lane of length len(data)//B.

    With B=1 this is min-char-rnn's moving pointer exactly: windows start at p = 0, T, 2T, ...
    and when p + T + 1 >= lane length the pointer (and the hidden state) go back to the start.
    """

    data: np.ndarray
    batch: int
    seq_length: int
    position: int = 0  # offset within every lane; identical for all B cursors
    fresh: bool = True  # True until the first window, as min-char-rnn's `n == 0`
    epoch: int = 0  # how many times the pointer has wrapped back to the start of its lane

    def __post_init__(self) -> None:
        self.lane = len(self.data) // self.batch
        if self.lane < self.seq_length + 1:
            need = (self.seq_length + 1) * self.batch
            raise CharrnnError(
                f"corpus too short: {len(self.data)} training characters, need at least {need} "
                f"(batch {self.batch} x (seq_length {self.seq_length} + 1))"
            )
        self.starts = np.arange(self.batch) * self.lane

    def restart_reason(self) -> str:
        """Why the next window starts over at 0 with a zero state: "fresh" (the run's first
        window), "wrapped" (p + T + 1 >= lane: the window would run past the lane's end), or
        "" (it carries on from the last one)."""
        if self.fresh:
            return "fresh"
        return "wrapped" if self.position + self.seq_length + 1 >= self.lane else ""

    def window_ids(self, position: int) -> np.ndarray:
        """The ids (T + 1, B) of every lane's window starting at `position`: inputs are the
        first T rows, targets the last T."""
        idx = self.starts[None, :] + position + np.arange(self.seq_length + 1)[:, None]
        return self.data[idx].astype(np.intp)  # ids are stored small; the model indexes

    def next_window(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """(inputs (T, B), targets (T, B), reset) where reset says the hidden state must restart."""
        reason = self.restart_reason()
        if reason:
            self.position = 0
            self.fresh = False
            self.epoch += reason == "wrapped"
        window = self.window_ids(self.position)
        self.position += self.seq_length
        return window[:-1], window[1:], bool(reason)

    def next_input(self) -> int:
        """The id that follows what lane 0 has read so far: the last window's last target,
        which is where a sample continues the training text from."""
        return int(self.data[self.starts[0] + self.position])

    @property
    def windows_per_epoch(self) -> int:
        """Windows read from p = 0 before the pointer wraps: those at p = kT with
        p + T + 1 < lane, and at least the one at 0."""
        return max(1, -(-(self.lane - 1) // self.seq_length) - 1)

    def state_dict(self) -> dict[str, int | bool]:
        return {"position": self.position, "fresh": self.fresh, "epoch": self.epoch}

    def load_state_dict(self, d: dict[str, int | bool]) -> None:
        """Continue from a saved cursor; one beyond this lane is refused. A cursor saved
        before epochs were counted gets none (the trainer estimates it)."""
        position, fresh = d["position"], d["fresh"]
        if not 0 <= position < self.lane:
            raise CharrnnError(
                f"stream position {position} is outside the corpus (each lane holds {self.lane})"
            )
        self.position, self.fresh = int(position), bool(fresh)
        self.epoch = int(d.get("epoch", 0))
