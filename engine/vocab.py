"""Characters <-> integer ids. Built from the text, sorted, and stored in every checkpoint.

Ids are stored in the smallest unsigned type that holds the vocabulary (one byte each for up
to 256 characters), and text is read a chunk at a time, as code points, so that a corpus of
hundreds of megabytes never needs a Python object per character or an int64 copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from engine.errors import CharrnnError

CHUNK_CHARS = 1 << 18  # characters converted at a time: a few MB of scratch
CODE_POINTS = 0x110000


def code_point_chunks(text: str) -> Iterator[np.ndarray]:
    """The text's code points (uint32), CHUNK_CHARS at a time."""
    for start in range(0, len(text), CHUNK_CHARS):
        chunk = text[start : start + CHUNK_CHARS].encode("utf-32-le", "surrogatepass")
        yield np.frombuffer(chunk, np.uint32)


def distinct_code_points(text: str) -> np.ndarray:
    """Every code point in `text`, sorted, without repeats."""
    seen = np.zeros(CODE_POINTS, bool)
    for points in code_point_chunks(text):
        seen[points] = True
    return np.flatnonzero(seen)


@dataclass(frozen=True)
class Vocab:
    chars: str  # every distinct character, sorted by code point; id = position
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars):
            raise CharrnnError("vocabulary has repeated characters")
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.chars)})

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls("".join(map(chr, distinct_code_points(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    @property
    def id_dtype(self) -> np.dtype:
        """The smallest unsigned integer type that holds every id."""
        for dtype in (np.uint8, np.uint16):
            if len(self.chars) <= np.iinfo(dtype).max + 1:
                return np.dtype(dtype)
        return np.dtype(np.uint32)

    def missing(self, text: str) -> str:
        """The characters of `text` this vocabulary lacks, sorted, without repeats."""
        return "".join(chr(c) for c in distinct_code_points(text) if chr(c) not in self._index)

    def encode(self, text: str, what: str = "text") -> np.ndarray:
        """Ids of `text` in `id_dtype`, converted a chunk at a time."""
        table = np.full(CODE_POINTS, -1, np.int32)  # code point -> id; -1 not in the vocabulary
        table[[ord(c) for c in self.chars]] = np.arange(len(self.chars))
        ids = np.empty(len(text), self.id_dtype)
        start = 0
        for points in code_point_chunks(text):
            looked_up = table[points]
            if len(looked_up) and looked_up.min() < 0:
                raise CharrnnError(
                    f"{what} has characters outside the model's vocabulary: {self.missing(text)!r}"
                )
            ids[start : start + len(points)] = looked_up
            start += len(points)
        return ids

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in ids)
