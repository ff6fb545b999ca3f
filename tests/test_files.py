"""Only regular files are read: a FIFO, a device or a directory is refused before opening."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine import checkpoint, data
from engine.data import read_text
from engine.errors import CharrnnError


@contextmanager
def fifo_with_a_writer(path: Path) -> Iterator[Path]:
    """A FIFO whose writer connects and leaves at once, so that code opening it (as charrnn
    did) sees an empty file instead of hanging the test; released afterwards either way."""
    os.mkfifo(path)

    def write_nothing() -> None:
        with open(path, "wb"):
            pass

    writer = threading.Thread(target=write_nothing, daemon=True)
    writer.start()
    try:
        yield path
    finally:
        if writer.is_alive():  # nobody opened it for reading: let the writer's open return
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            writer.join(5)
            os.close(fd)


def test_a_fifo_corpus_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "corpus.txt"
    refused = pytest.raises(CharrnnError, match=r"is a named pipe \(FIFO\), not a text file")
    with fifo_with_a_writer(fifo), refused:
        read_text(fifo)


def test_a_fifo_checkpoint_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "model.npz"
    refused = pytest.raises(CharrnnError, match=r"is a named pipe \(FIFO\), not a checkpoint")
    with fifo_with_a_writer(fifo), refused:
        checkpoint.load(fifo)


@pytest.mark.parametrize(
    ("read", "what"), [(read_text, "text file"), (checkpoint.load, "checkpoint")]
)
def test_a_device_is_refused(read, what: str) -> None:
    with pytest.raises(CharrnnError, match=f"/dev/null: is a device, not a {what}"):
        read(Path("/dev/null"))


@pytest.mark.parametrize(
    ("read", "what"), [(read_text, "text file"), (checkpoint.load, "checkpoint")]
)
def test_a_directory_is_refused(read, what: str, tmp_path: Path) -> None:
    with pytest.raises(CharrnnError, match=f"is a directory, not a {what}"):
        read(tmp_path)


def test_a_corpus_over_the_size_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "MAX_CORPUS_BYTES", 10)
    big = tmp_path / "big.txt"
    big.write_text("eleven char")
    with pytest.raises(CharrnnError, match="larger than charrnn trains on"):
        read_text(big)
    big.write_text("ten chars!")
    assert read_text(big) == "ten chars!"
