"""charrnn's numpy engine: character-level recurrent language models, no UI imports."""

from engine.errors import CharrnnError

__all__ = ["CharrnnError"]
