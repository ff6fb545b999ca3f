"""The config refuses, before anything is allocated, values of the wrong type or absurd size."""

from __future__ import annotations

import pytest

from engine.config import PRESETS, Config
from engine.errors import CharrnnError


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hidden": 99999999999}, r"hidden must be at most 4096 \(got 99999999999\): hidden "
         r"99999999999 would need about [0-9.e+]+ GB of memory"),
        ({"layers": 99999999999}, r"layers must be at most 32 \(got 99999999999\)"),
        ({"embedding": 10**6}, r"embedding must be at most 4096"),
        ({"batch": 10**5}, r"batch must be at most 4096"),
        ({"seq_length": 10**5}, r"seq_length must be at most 4096"),
        ({"hidden": 4096, "layers": 32}, r"this model would need about [0-9.]+ GB of memory "
         r"\(weights, gradients, optimiser state and one window's activations; at most 16 GB\)"),
    ],
)  # fmt: skip
def test_sizes_have_upper_bounds_that_say_why(changes: dict, message: str) -> None:
    with pytest.raises(CharrnnError, match=message):
        Config(**changes).validate()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hidden", 1.5, "hidden must be a whole number (got 1.5)"),
        ("batch", True, "batch must be a whole number (got True)"),
        ("lr", "0.1", "lr must be a finite number (got '0.1')"),
        ("lr", float("inf"), "lr must be a finite number (got inf)"),
        ("dtype", None, "dtype must be a string (got None)"),
        ("init_scale", 0.0, "init_scale must be positive (got 0.0)"),
    ],
)
def test_each_field_has_a_type(field: str, value, message: str) -> None:
    with pytest.raises(CharrnnError) as refused:
        Config(**{field: value}).validate()
    assert str(refused.value) == message


def test_every_preset_is_well_within_the_bounds() -> None:
    for config, _ in PRESETS.values():
        assert config.validate().memory_estimate() < 10**9


def test_the_memory_check_counts_the_vocabulary() -> None:
    wide = Config(hidden=4096, embedding=4096)
    wide.validate()  # with the assumed 256 characters
    with pytest.raises(CharrnnError, match="would need about"):
        wide.check_memory(400_000)
