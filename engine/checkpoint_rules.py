"""What a checkpoint file may hold, checked before any of it is used or allocated.

The metadata: each field's type and range (the config by `Config.validate`, the vocabulary
here, the trainer's counters and random state by `engine.statedict`). Each array: its name
must be one the layout has, its dtype a real float of the config's dtype (an integer for
Adam's step count), and its shape what the config and vocabulary imply, or, for a cell's own
weights, at most the size of the whole model; once read, its values finite (`not_finite`).
Every message is one line without the path (`checkpoint.load` adds it).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from engine import averaging
from engine.cells.record import RECORD_KEY, check_record
from engine.cells.registry import cell_type
from engine.config import Config
from engine.errors import CharrnnError
from engine.npzread import Header
from engine.schedule import Budget
from engine.statedict import check_values, mapping, shown
from engine.vocab import Vocab

FORMAT = "charrnn-checkpoint"
FORMAT_VERSION = 1
# The metadata fields that are a trainer's state dictionary's JSON-able values, by the same names.
STATE_META = (
    "config",
    "vocab",
    "seed",
    "iteration",
    "smooth_loss",
    "elapsed",
    "stream",
    "rng",
    "corpus",
)
REQUIRED_META = ("format", "format_version", *STATE_META)
OPTIONAL_META = ("budget",)  # absent from files written before budgets: none
MAX_META_BYTES = 16 * 2**20  # a vocabulary of every Unicode character fits 4 times over
MAX_VAL_ROWS = 2**24  # evaluations kept in history/val (256 MB): far more than any run makes
ANY_FLOAT, ANY_INT = "f", "iu"  # dtype kinds wanted where the config's dtype is not


def check_format(meta: Any) -> None:
    """That `meta` is a charrnn checkpoint's metadata, of a version this code reads."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CharrnnError(f"not a charrnn checkpoint (format is not {FORMAT!r})")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CharrnnError(
            f"corrupt checkpoint (format_version must be a whole number from 1, "
            f"got {shown(version)})"
        )
    if version > FORMAT_VERSION:
        raise CharrnnError(
            f"written by a newer charrnn (format version {version}; this one reads up to "
            f"{FORMAT_VERSION}); upgrade charrnn to load it"
        )
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise CharrnnError(f"incomplete checkpoint (missing {', '.join(missing)})")


def check_meta(meta: dict[str, Any]) -> tuple[Config, Vocab]:
    """The config and vocabulary of checked metadata; every other field checked too. A cell
    of the user's own is checked first (engine/cells/record.py): its file must have been
    given to this process, and hash as it did when the file was saved."""
    check_record(mapping(meta, "config").get("cell"), meta.get(RECORD_KEY))
    try:
        config = Config.from_dict(dict(mapping(meta, "config")))
    except (CharrnnError, TypeError) as exc:
        raise CharrnnError(f"bad configuration in checkpoint ({exc})") from None
    chars = meta["vocab"]
    if not isinstance(chars, str) or not chars:
        raise CharrnnError(f"bad vocabulary in checkpoint (got {shown(chars)})")
    if any("\ud800" <= c <= "\udfff" for c in chars):
        raise CharrnnError("bad vocabulary in checkpoint (it holds lone surrogates)")
    try:
        vocab = Vocab(chars)
        check_values(meta)
        if "budget" in meta:
            Budget.from_dict(meta["budget"])
        config.check_memory(len(vocab))
    except CharrnnError as exc:
        raise CharrnnError(f"corrupt checkpoint ({exc})") from None
    return config, vocab


class ArrayRules:
    """The dtype and size each array of a checkpoint with this metadata may have."""

    def __init__(self, config: Config, vocab_size: int, iteration: int) -> None:
        self.config, self.vocab_size, self.iteration = config, vocab_size, iteration
        self.dtype = np.dtype(config.dtype)
        self.model_bytes = self.dtype.itemsize * config.param_count_estimate(vocab_size)
        self.state_arrays = len(cell_type(config.cell).state_names)  # per layer: h, c, ...

    def max_bytes(self, name: str) -> int:
        """The most bytes entry `name` may take (its header is checked against this too)."""
        if name == "meta":
            return MAX_META_BYTES
        if name == "history/val":
            return 16 * min(self.iteration, MAX_VAL_ROWS)
        if name == "history/loss":
            return 8 * self.iteration  # read a chunk at a time, never all at once
        return self.model_bytes

    def check(self, name: str, header: Header) -> None:
        """A CharrnnError unless entry `name` may have this shape and dtype."""
        shape, wanted = self._rule(name, header)
        if shape is not None and header.shape != shape:
            raise CharrnnError(f"{name} has shape {header.shape}, the model needs {shape}")
        kinds = wanted in (ANY_FLOAT, ANY_INT)
        if not (header.dtype.kind in wanted if kinds else header.dtype == np.dtype(wanted)):
            want = {ANY_FLOAT: "floats", ANY_INT: "integers"}.get(wanted, wanted)
            raise CharrnnError(f"{name} holds {header.dtype} values, not {want}")
        if header.nbytes > self.max_bytes(name):
            raise CharrnnError(f"{name} has shape {header.shape}, more than this model can hold")

    def _rule(self, name: str, header: Header) -> tuple[tuple[int, ...] | None, str]:
        """(the exact shape, or None for any within `max_bytes`; the dtype wanted: the
        model's by name, or ANY_FLOAT, or ANY_INT)."""
        c, v, model = self.config, self.vocab_size, self.config.dtype
        if name.startswith("history/"):
            return self._history_rule(name, header), ANY_FLOAT
        exact = {"param/Why": (v, c.hidden), "param/by": (v,)}
        if c.embedding:
            exact["param/E"] = (v, c.embedding)
        if name in exact:
            return exact[name], model
        if (name == "optim/step" and c.optimizer == "adam") or (
            name == f"optim/{averaging.STEPS}" and c.average
        ):
            return (), ANY_INT
        state = re.fullmatch(r"state/(\d+)/(\d+)", name)
        if state and int(state[1]) < c.layers and int(state[2]) < self.state_arrays:
            return (c.batch, c.hidden), model
        weight = re.fullmatch(r"param/l(\d+)\.[A-Za-z]\w*", name)
        if (weight and int(weight[1]) < c.layers) or re.fullmatch(r"optim/[\w.]+", name):
            return None, model
        raise CharrnnError(f"{name} is not an entry this model's checkpoint has")

    def _history_rule(self, name: str, header: Header) -> None:
        rows = header.shape[0] if header.shape else 0
        if name == "history/loss" and (len(header.shape) != 1 or rows > self.iteration):
            raise CharrnnError(
                f"{name} has shape {header.shape}, expected at most ({self.iteration},)"
            )
        if name == "history/val" and (
            len(header.shape) != 2 or header.shape[1] != 2 or rows > self.iteration
        ):
            raise CharrnnError(
                f"{name} has shape {header.shape}, expected (n, 2) with n at most "
                f"{min(self.iteration, MAX_VAL_ROWS)}"
            )
        if name not in ("history/loss", "history/val"):
            raise CharrnnError(f"{name} is not an entry this model's checkpoint has")


def not_finite(arrays: dict[str, np.ndarray]) -> str | None:
    """What in a checkpoint's arrays holds NaN or infinity, or None: the same rule for
    saving (never write what loading refuses) and loading.

    Every entry must be finite but one column: a held-out loss is recorded as evaluated, and
    everything that reads it skips a non-finite one, so a file charrnn wrote may hold it. A
    non-finite training loss is never saved: the step that made it made the smoothed loss
    non-finite for good, and a save refuses that, so history/loss must be finite too."""
    for name, value in arrays.items():
        checked = value[:, 0] if name == "history/val" and value.ndim == 2 else value
        if checked.dtype.kind == "f" and not np.isfinite(checked).all():
            return f"{_what(name)} is not finite"
    return None


def _what(name: str) -> str:
    """An entry as a message names it."""
    kind, _, rest = name.partition("/")
    if kind == "param":
        return f"parameter {rest}"
    if kind == "optim":
        return f"optimiser state {rest}"
    if kind == "state":
        layer, _, index = rest.partition("/")
        return f"the hidden state of layer {layer} (state/{layer}/{index})"
    return {"history/loss": "the loss history", "history/val": "the held-out loss history"}.get(
        name, name
    )
