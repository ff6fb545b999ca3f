"""Every hyper-parameter in one dataclass, and the named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.errors import CharrnnError

CELLS = ("rnn", "lstm", "gru")
# adagrad: min-char-rnn's p -= lr*g/sqrt(mem + 1e-8); adagrad-torch: PyTorch's
# p -= lr*g/(sqrt(mem) + 1e-10), which learns better with minibatches; adam: bias-corrected.
OPTIMIZERS = ("adagrad", "adagrad-torch", "adam")
DTYPES = ("float64", "float32")
LOSS_REDUCTIONS = ("sum", "mean")


@dataclass(frozen=True)
class Config:
    # Fields a resumed run may change: they steer the optimiser, the evaluation and the
    # samples, not the model or the data layout (nanoGPT and char-rnn keep the same rule
    # beside their loads).
    RESUMABLE: ClassVar[frozenset[str]] = frozenset(
        {"lr", "clip", "clip_norm", "lr_decay", "lr_decay_every", "eval_every"}
        | {"sample_every", "sample_length"}
    )

    cell: str = "rnn"
    hidden: int = 100
    layers: int = 1
    embedding: int = 0  # width of a learnt input embedding; 0 feeds one-hot ids (classic)
    dropout: float = 0.0  # inverted dropout between stacked layers, training only
    seq_length: int = 25
    batch: int = 1
    lr: float = 0.1
    optimizer: str = "adagrad"
    beta1: float = 0.9  # Adam's moment decay rates
    beta2: float = 0.999
    clip: float = 5.0  # element-wise gradient clip, +-clip; 0 disables
    clip_norm: float = 0.0  # global L2-norm clip over all gradients after `clip`; 0 disables
    lr_decay: float = 1.0  # step schedule: lr * lr_decay ** (iteration // lr_decay_every)
    lr_decay_every: int = 1000
    dtype: str = "float64"
    loss: str = "sum"  # "sum" over the window (min-char-rnn) or "mean" per character
    init_scale: float = 0.01  # weights ~ randn * init_scale, biases zero
    val_fraction: float = 0.0  # held-out tail of the corpus
    eval_every: int = 0  # evaluate the held-out tail every N iterations; 0 never
    sample_every: int = 100
    sample_length: int = 200

    def validate(self) -> Config:
        """Self, or a CharrnnError naming the first bad value."""
        for name in ("hidden", "layers", "seq_length", "batch", "sample_length", "lr_decay_every"):
            if getattr(self, name) < 1:
                raise CharrnnError(f"{name} must be at least 1 (got {getattr(self, name)})")
        for name in ("sample_every", "eval_every"):
            if getattr(self, name) < 0:
                raise CharrnnError(f"{name} must be 0 (never) or more (got {getattr(self, name)})")
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
        for name in ("clip", "clip_norm"):
            if not getattr(self, name) >= 0:
                raise CharrnnError(
                    f"{name} must be 0 (off) or positive (got {getattr(self, name)})"
                )
        if not 0 < self.lr_decay <= 1:
            raise CharrnnError(f"lr_decay must be in (0, 1], 1 for none (got {self.lr_decay})")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise CharrnnError(f"{name} must be in [0, 1) (got {getattr(self, name)})")
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

    def resumed(self, changes: dict[str, Any], source: str) -> Config:
        """This saved config with the schedule changes applied, for a run resumed from
        `source`; a change to the model or the data layout (to anything other than what was
        saved) is a CharrnnError listing each, as the command line's flags."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise CharrnnError(f"unknown configuration fields: {', '.join(unknown)}")
        conflicts = [
            f"--{k.replace('_', '-')} {v} (checkpoint: {getattr(self, k)})"
            for k, v in changes.items()
            if k not in self.RESUMABLE and getattr(self, k) != v
        ]
        if conflicts:
            raise CharrnnError(
                f"{source} keeps the model and data layout it was saved with; conflicting "
                f"flags: {', '.join(conflicts)} (drop them, or train a fresh model)"
            )
        return self.replace(**{k: v for k, v in changes.items() if k in self.RESUMABLE})


# What the fast presets share: float32, minibatches with the loss averaged per character,
# and the last 10% of the corpus held out for validation.
_FAST = Config(dtype="float32", loss="mean", batch=64, val_fraction=0.1, eval_every=500)

PRESETS: dict[str, tuple[Config, str]] = {
    "classic": (
        Config(),
        "min-char-rnn exactly: RNN 100, seq 25, Adagrad 0.1, summed loss, float64, B=1",
    ),
    # Tuned for held-out loss after 60-120 s on 2 shared cores (benchmarks/quality.py): short
    # windows and a high, decaying Adam rate buy more updates per second than long windows.
    "rnn-fast": (
        dataclasses.replace(
            _FAST,
            hidden=128,
            seq_length=32,
            optimizer="adam",
            lr=5e-3,
            clip=0.0,
            clip_norm=5.0,
            lr_decay=0.6,
            lr_decay_every=3000,  # it runs ~7x more iterations a second than the gated cells
        ),
        "vanilla RNN 128, B=64, seq 32, Adam 5e-3 decaying 0.6x per 3000 its, float32",
    ),
    "lstm": (
        dataclasses.replace(
            _FAST,
            cell="lstm",
            hidden=256,
            seq_length=32,
            optimizer="adam",
            lr=5e-3,
            clip=0.0,
            clip_norm=5.0,
            lr_decay=0.6,
            lr_decay_every=600,
            init_scale=0.05,
        ),
        "LSTM 256, B=64, seq 32, Adam 5e-3 decaying 0.6x per 600 its, float32",
    ),
    "gru": (
        dataclasses.replace(
            _FAST,
            cell="gru",
            hidden=256,
            seq_length=32,
            optimizer="adam",
            lr=5e-3,
            clip=0.0,
            clip_norm=5.0,
            lr_decay=0.6,
            lr_decay_every=800,
            init_scale=0.05,
        ),
        "GRU 256, B=64, seq 32, Adam 5e-3 decaying 0.6x per 800 its, float32 (best per second)",
    ),
}


def preset(name: str) -> Config:
    if name not in PRESETS:
        raise CharrnnError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name][0]
