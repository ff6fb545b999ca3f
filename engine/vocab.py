"""Characters <-> integer ids. Built from the text, sorted, and stored in every checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.errors import CharrnnError


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
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    def missing(self, text: str) -> str:
        """The characters of `text` this vocabulary lacks, sorted, without repeats."""
        return "".join(sorted(set(text) - set(self._index)))

    def encode(self, text: str, what: str = "text") -> np.ndarray:
        missing = self.missing(text)
        if missing:
            raise CharrnnError(f"{what} has characters outside the model's vocabulary: {missing!r}")
        return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in ids)
