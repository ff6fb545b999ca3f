"""The bundled public-domain corpora (provenance in SOURCES.md) and corpus lookup by name or path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (file, one-line description)
BUNDLED: dict[str, tuple[str, str]] = {
    "blog_sample": (
        "blog_sample.txt",
        "three lines from the min-char-rnn blog post; learnt by heart",
    ),
    "alice": ("alice.txt", "Lewis Carroll, Alice's Adventures in Wonderland"),
    "tinyshakespeare": ("tinyshakespeare.txt", "Karpathy's 1 MB of Shakespeare's plays"),
    "kaze": ("kaze.txt", "Miyazawa Kenji, Kaze no Matasaburo (Japanese, 762 characters)"),
}
DEFAULT = "tinyshakespeare"


@dataclass(frozen=True)
class CorpusRef:
    name: str  # bundled name, or the file's stem for a user's path
    path: Path


def bundled_path(name: str) -> Path:
    return HERE / BUNDLED[name][0]


def resolve(name_or_path: str) -> CorpusRef:
    """A bundled name wins; anything else is taken as a path (checked when it is read)."""
    if name_or_path in BUNDLED:
        return CorpusRef(name_or_path, bundled_path(name_or_path))
    path = Path(name_or_path).expanduser()
    return CorpusRef(path.stem or "corpus", path)


def load(name_or_path: str) -> tuple[str, str]:
    """(name, text) of a bundled corpus or a UTF-8 text file; CharrnnError if unreadable."""
    from engine.data import read_text

    ref = resolve(name_or_path)
    if ref.name not in BUNDLED and not ref.path.exists() and "/" not in name_or_path:
        from engine.errors import CharrnnError

        raise CharrnnError(
            f"{name_or_path}: no such file or bundled corpus (bundled: {', '.join(BUNDLED)})"
        )
    return ref.name, read_text(ref.path)
