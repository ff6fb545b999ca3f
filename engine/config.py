"""Every hyper-parameter in one dataclass, and the named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from engine.errors import CharrnnError

CELLS = ("rnn", "lstm", "gru")
OPTIMIZERS = ("adagrad",)
DTYPES = ("float64", "float32")
LOSS_REDUCTIONS = ("sum", "mean")


@dataclass(frozen=True)
class Config:
    cell: str = "rnn"
    hidden: int = 100
    layers: int = 1
    embedding: int = 0  # width of a learnt input embedding; 0 feeds one-hot ids (classic)
    dropout: float = 0.0  # inverted dropout between stacked layers, training only
    seq_length: int = 25
    batch: int = 1
    lr: float = 0.1
    optimizer: str = "adagrad"
    clip: float = 5.0  # element-wise gradient clip, +-clip; 0 disables
    dtype: str = "float64"
    loss: str = "sum"  # "sum" over the window (min-char-rnn) or "mean" per character
    init_scale: float = 0.01  # weights ~ randn * init_scale, biases zero
    val_fraction: float = 0.0  # held-out tail of the corpus
    sample_every: int = 100
    sample_length: int = 200

    def validate(self) -> Config:
        """Self, or a CharrnnError naming the first bad value."""
        for name in ("hidden", "layers", "seq_length", "batch", "sample_length"):
            if getattr(self, name) < 1:
                raise CharrnnError(f"{name} must be at least 1 (got {getattr(self, name)})")
        if self.sample_every < 0:
            raise CharrnnError(f"sample_every must be 0 (never) or more (got {self.sample_every})")
        for name, allowed in (
            ("cell", CELLS),
            ("optimizer", OPTIMIZERS),
            ("dtype", DTYPES),
            ("loss", LOSS_REDUCTIONS),
        ):
            if getattr(self, name) not in allowed:
                raise CharrnnError(
                    f"unknown {name} {getattr(self, name)!r} (choose from {', '.join(allowed)})"
                )
        if not self.lr > 0:
            raise CharrnnError(f"lr must be positive (got {self.lr})")
        if self.clip < 0:
            raise CharrnnError(f"clip must be 0 (off) or positive (got {self.clip})")
        if not 0 <= self.val_fraction < 1:
            raise CharrnnError(f"val_fraction must be in [0, 1) (got {self.val_fraction})")
        if self.embedding < 0:
            raise CharrnnError(f"embedding must be 0 (one-hot) or more (got {self.embedding})")
        if not 0 <= self.dropout < 1:
            raise CharrnnError(f"dropout must be in [0, 1) (got {self.dropout})")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CharrnnError(f"unknown configuration fields: {', '.join(unknown)}")
        return cls(**values).validate()

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes).validate()


PRESETS: dict[str, tuple[Config, str]] = {
    "classic": (
        Config(),
        "min-char-rnn exactly: RNN 100, seq 25, Adagrad 0.1, summed loss, float64, B=1",
    ),
}


def preset(name: str) -> Config:
    if name not in PRESETS:
        raise CharrnnError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name][0]
