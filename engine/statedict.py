"""Checking a trainer's state dictionary before any of it is used.

A state dictionary (see `Trainer.state_dict`) is plain numpy arrays and JSON-able values.
It may come from a file someone else wrote, so every value is checked for its type and range
here, and every array for its name, shape and dtype against the arrays it will be copied
into, and a bad one is a CharrnnError naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.errors import CharrnnError

SEED_MAX = 2**32 - 1  # numpy's RandomState takes seeds 0 .. 2**32 - 1
ITERATION_MAX = 2**62  # far beyond any run, small enough for every integer type involved
PCG64_WORD = 2**128  # the bit generator's state and increment are 128-bit integers


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def whole(values: Mapping[str, Any], name: str, low: int, high: int) -> int:
    """values[name] as an int in low..high; a bool or a float such as 1.5 is refused."""
    value = values.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CharrnnError(
            f"{name} must be a whole number from {low} to {high} (got {shown(value)})"
        )
    return value


def finite(values: Mapping[str, Any], name: str, low: float = 0.0) -> float:
    """values[name] as a finite float of at least `low`."""
    value = values.get(name)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < low
    ):
        raise CharrnnError(f"{name} must be a finite number of at least {low} (got {shown(value)})")
    return float(value)


def mapping(values: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = values.get(name)
    if not isinstance(value, Mapping):
        raise CharrnnError(f"{name} must be a JSON object (got {shown(value)})")
    return value


def text(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name)
    if not isinstance(value, str):
        raise CharrnnError(f"{name} must be a string (got {shown(value)})")
    return value


def check_seed(seed: Any) -> int:
    return whole({"seed": seed}, "seed", 0, SEED_MAX)


def check_rng(state: Any) -> dict[str, Any]:
    """A PCG64 bit generator's state as numpy writes it, every number in range."""
    if not isinstance(state, Mapping) or state.get("bit_generator") != "PCG64":
        raise CharrnnError(f"rng must be a PCG64 generator's state (got {shown(state)})")
    inner = mapping(state, "state")
    whole(inner, "state", 0, PCG64_WORD - 1)
    whole(inner, "inc", 0, PCG64_WORD - 1)
    whole(state, "has_uint32", 0, 1)
    whole(state, "uinteger", 0, 2**32 - 1)
    return {
        "bit_generator": "PCG64",
        "state": {"state": inner["state"], "inc": inner["inc"]},
        "has_uint32": state["has_uint32"],
        "uinteger": state["uinteger"],
    }


def check_values(d: Mapping[str, Any]) -> None:
    """Every JSON-able field of a state dictionary: types and ranges, nothing used yet."""
    vocab = text(d, "vocab")
    if not vocab:
        raise CharrnnError("vocab must not be empty")
    mapping(d, "config")
    check_seed(d.get("seed"))
    whole(d, "iteration", 0, ITERATION_MAX)
    finite(d, "smooth_loss")
    finite(d, "elapsed")
    stream = mapping(d, "stream")
    whole(stream, "position", 0, ITERATION_MAX)
    if not isinstance(stream.get("fresh"), bool):
        raise CharrnnError(f"stream fresh must be true or false (got {shown(stream.get('fresh'))})")
    if "epoch" in stream:
        whole(stream, "epoch", 0, ITERATION_MAX)
    corpus = mapping(d, "corpus")
    text(corpus, "name")
    text(corpus, "fingerprint")
    whole(corpus, "length", 0, ITERATION_MAX)
    check_rng(d.get("rng"))


def load_arrays_into(
    what: str, source: Mapping[str, Any], target: Mapping[str, np.ndarray]
) -> None:
    """Copy each array of `source` into the array of the same name in `target`, once all the
    names, shapes and dtypes are known to match (else a CharrnnError naming the first that
    does not, and nothing is copied)."""
    missing = sorted(set(target) - set(source))
    if missing:
        raise CharrnnError(f"{what} lack {missing[0]}")
    extra = sorted(set(source) - set(target))
    if extra:
        raise CharrnnError(f"{what} have an unexpected {extra[0]}")
    for name, dest in target.items():
        src = source[name]
        if not isinstance(src, np.ndarray):
            raise CharrnnError(f"{what} {name} is not an array")
        if src.shape != dest.shape:
            raise CharrnnError(f"{what} {name} has shape {src.shape}, the model needs {dest.shape}")
        if src.dtype != dest.dtype:
            raise CharrnnError(f"{what} {name} is {src.dtype}, the model needs {dest.dtype}")
    for name, dest in target.items():
        dest[...] = source[name]
