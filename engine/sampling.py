"""Generating text from a model: temperature, top-k, greedy, a prime text, and where to start.

Generation runs one row (B=1) at a time on buffers allocated once per sample (each cell's
`RowStep`), and picks each character with the Gumbel-max trick: argmax(logits / T + G) with
G = -log(-log U) for uniform U is an exact draw from softmax(logits / T). The noise for a
few hundred characters is made in one vectorised pass and, scaled by T, added where the
output bias goes, so a character costs two matrix-vector products, an add and an argmax:
several times less than a softmax and `Generator.choice(p=...)` for each one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.cells.base import Params, State
from engine.errors import CharrnnError
from engine.files import check_regular_file
from engine.limits import MAX_SAMPLE_LENGTH
from engine.model import CharModel
from engine.vocab import Vocab

NOISE_BLOCK = 32768  # Gumbel noise values made per refill (rows of V, at most 256 rows)
STARTS = ("auto", "zero", "carried")  # where a sample starts; see start_state
_OPEN = 2.0**-54  # Generator.random() is in [0, 1): shifted by half a step, U is in (0, 1)
_NEG_INF = np.array(-np.inf)  # made once: a Python -inf would become a new array each use


@dataclass(frozen=True)
class SampleSettings:
    """How to pick each character: `length` of them, softmax at `temperature`, keeping only
    the `top_k` likeliest (0 keeps all), or always the likeliest (`greedy`)."""

    length: int = 200
    temperature: float = 1.0
    top_k: int = 0  # 0 keeps every character
    greedy: bool = False

    def validate(self) -> SampleSettings:
        if not 0 <= self.length <= MAX_SAMPLE_LENGTH:
            raise CharrnnError(
                f"length must be from 0 to {MAX_SAMPLE_LENGTH:,} characters (got {self.length:,})"
            )
        if not (self.temperature > 0 and np.isfinite(self.temperature)):
            raise CharrnnError(f"temperature must be a positive number (got {self.temperature})")
        if self.top_k < 0:
            raise CharrnnError(f"top-k must be 0 (off) or more (got {self.top_k})")
        return self


def noise_rows(vocab_size: int) -> int:
    """Characters' worth of Gumbel noise made per refill: a block that stays in cache."""
    return max(1, min(256, NOISE_BLOCK // vocab_size))


def top_k_cutoff(values: np.ndarray, k: int, scratch: np.ndarray) -> float:
    """The k-th largest of `values` (those >= it are "the top k", ties included), found by
    partitioning `scratch` in place: no allocation, unlike np.partition."""
    np.copyto(scratch, values)
    scratch.partition(len(values) - k)
    return scratch.item(len(values) - k)


class Chooser:
    """The output bias and the choice of each next id, as `settings` say, on buffers made once.

    A step is `choose.pick(rows.scores_after(x, choose.offset()))`. For plain sampling the
    offset is by + T G (the output bias plus scaled Gumbel noise), so the pick is an argmax;
    greedy picks the argmax of the logits; top-k adds the noise after finding the k-th
    largest logit, and masks what is below it."""

    def __init__(
        self, output_bias: np.ndarray, settings: SampleSettings, rng: np.random.Generator | None
    ) -> None:
        vocab_size = len(output_bias)
        self.settings, self.rng = settings, rng
        self.top_k = settings.top_k if 0 < settings.top_k < vocab_size else 0
        self.bias = output_bias.astype(np.float64)
        self._rows_left = settings.length  # never make noise for more characters than asked
        self._noise = np.empty((0, vocab_size))  # a block of rows, one per character
        self._rows: list[np.ndarray] = []  # views of its rows, made once per block
        self._next_row = 0
        self._scratch = np.empty(vocab_size)
        self._below = np.empty(vocab_size, bool)  # top-k: outside the k likeliest

    def offset(self) -> np.ndarray:
        """What to add to Why h for the next pick: by (greedy, top-k) or by + T G."""
        if self.settings.greedy or self.top_k:
            return self.bias
        return self._next_noise()

    def pick(self, scores: np.ndarray) -> int:
        """The next id, from `scores` = Why h + offset() (float64, may be overwritten)."""
        if self.top_k and not self.settings.greedy:
            cutoff = top_k_cutoff(scores, self.top_k, self._scratch)
            np.less(scores, cutoff, out=self._below)
            scores += self._next_noise()
            np.copyto(scores, _NEG_INF, where=self._below)
        return int(scores.argmax())

    def _next_noise(self) -> np.ndarray:
        if self._next_row == len(self._rows):
            self._refill()
        row = self._rows[self._next_row]
        self._next_row += 1
        return row

    def _refill(self) -> None:
        """T G for a block of characters (plus by when the offset carries it)."""
        rows = max(1, min(noise_rows(len(self.bias)), self._rows_left))
        self._rows_left -= rows
        if len(self._noise) != rows:
            self._noise = np.empty((rows, len(self.bias)))
        g = self._noise
        self.rng.random(out=g)
        g += _OPEN
        np.log(g, out=g)
        np.negative(g, out=g)
        np.log(g, out=g)  # log(-log U) = -G
        g *= -self.settings.temperature
        if not self.top_k:
            g += self.bias
        self._rows = list(g)
        self._next_row = 0


class RowModel:
    """The whole model stepped one character at a time from `state` (B=1), on buffers
    allocated once: each layer's RowStep, then the output layer's product."""

    def __init__(self, model: CharModel, params: Params, state: list[State]) -> None:
        self.layers = model.row_steps(params)
        for layer, layer_state in zip(self.layers, state, strict=True):
            layer.set_state(layer_state)
        self.embedding = params["E"] if model.embedding else None
        self.why, self.by = params["Why"], params["by"]
        self._z = np.empty(model.vocab_size, model.dtype)
        self._scores = self._z if model.dtype == np.float64 else np.empty(model.vocab_size)

    def scores_after(self, x: int, offset: np.ndarray) -> np.ndarray:
        """Feed id `x`; Why h + `offset` for the next character, (V,) float64 (overwritten by
        the next call)."""
        h = x if self.embedding is None else self.embedding[x]
        for layer in self.layers:
            h = layer.step(h)
        np.dot(self.why, h, self._z)
        return np.add(self._z, offset, self._scores)

    def logits_after(self, x: int) -> np.ndarray:
        return self.scores_after(x, self.by)

    def state(self) -> list[State]:
        return [layer.state() for layer in self.layers]


def generate(
    model: CharModel,
    params: Params,
    state: list[State],
    first_id: int,
    settings: SampleSettings,
    rng: np.random.Generator,
) -> Iterator[int]:
    """Yield the ids of `settings.length` characters following `first_id`.

    `state` (one row, B=1) is the hidden state *before* `first_id` is fed; it is not modified.
    """
    rows = RowModel(model, params, state)
    choose = Chooser(params["by"], settings, rng)
    x = first_id
    for _ in range(settings.length):
        x = choose.pick(rows.scores_after(x, choose.offset()))
        yield x


def prime_state(
    model: CharModel, params: Params, state: list[State], prime_ids: np.ndarray
) -> list[State]:
    """The state after feeding all but the last prime character (which `generate` feeds)."""
    if len(prime_ids) > 1:
        _, _, state = model.forward_layers(params, prime_ids[:-1, None], state)
    return state


def start_state(
    model: CharModel, carried: list[State] | None, prime: str | None, start: str = "auto"
) -> list[State]:
    """The state a sample starts from. `start` is one of STARTS:

    - "zero": a zero state, as at the very start of the corpus;
    - "carried": `carried` (the state training left in stream 0; a zero state if None);
    - "auto" (the default): zero with a prime, carried without. A prime is the context, so
      the sample starts where the prime starts (as char-rnn does) and does not depend on where
      training stopped. Without a prime the sample continues training's stream: a model
      trained on a continuous stream has rarely seen a zero state, and from one it can babble
      its rarest characters.
    """
    if start not in STARTS:
        raise CharrnnError(f"unknown start {start!r} (choose from {', '.join(STARTS)})")
    use_zero = start == "zero" or (start == "auto" and bool(prime)) or carried is None
    return model.zero_state(1) if use_zero else carried


def stream_sample(
    model: CharModel,
    params: Params,
    vocab: Vocab,
    settings: SampleSettings,
    rng: np.random.Generator,
    *,
    prime: str | None = None,
    carried: list[State] | None = None,
    start: str = "auto",
    first_id: int | None = None,
) -> Iterator[str]:
    """Generated text piece by piece as it is made: the prime first (if any), then one
    character at a time. Bad settings, a bad `start` and a prime with characters outside the
    vocabulary raise CharrnnError here, before anything is generated.

    The state comes from `start_state(model, carried, prime, start)`. Without a prime the
    text continues after `first_id` (default: a newline when the vocabulary has one), which is
    not part of the result."""
    settings.validate()
    state = start_state(model, carried, prime, start)
    if prime:
        prime_ids = vocab.encode(prime, what="prime text")
        state = prime_state(model, params, state, prime_ids)
        first_id = int(prime_ids[-1])
    elif first_id is None:
        first_id = vocab.chars.index("\n") if "\n" in vocab else int(rng.integers(len(vocab)))
    return _pieces(prime, generate(model, params, state, first_id, settings, rng), vocab.chars)


def _pieces(prime: str | None, ids: Iterator[int], chars: str) -> Iterator[str]:
    if prime:
        yield prime
    for idx in ids:
        yield chars[idx]


def read_prime_file(path: str | Path) -> str:
    """The text of a prime file (`--prime-file`), verbatim: UTF-8, any number of lines."""
    path = Path(path)
    if path.exists():  # a FIFO would hang and /dev/zero fill memory: say so instead
        try:
            check_regular_file(path, "a prime file")
        except CharrnnError as exc:
            raise CharrnnError(f"prime file {exc}") from None
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CharrnnError(f"prime file {path} does not exist") from None
    except IsADirectoryError:
        raise CharrnnError(f"prime file {path} is a directory") from None
    except OSError as exc:
        raise CharrnnError(f"prime file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CharrnnError(
            f"prime file {path} is not UTF-8 text (byte {exc.start} is invalid)"
        ) from None
    if not text:
        raise CharrnnError(f"prime file {path} is empty")
    return text
