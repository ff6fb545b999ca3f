"""Every hyper-parameter in one dataclass, and the named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from engine.errors import CharrnnError

CELLS = ("rnn", "lstm", "gru")
# adagrad: min-char-rnn's p -= lr*g/sqrt(mem + 1e-8); adagrad-torch: PyTorch's
# p -= lr*g/(sqrt(mem) + 1e-10), which learns better with minibatches; adam: bias-corrected.
OPTIMIZERS = ("adagrad", "adagrad-torch", "adam")
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


# What the fast presets share: float32, minibatches with the loss averaged per character,
# the last 10% of the corpus held out for validation, and Adam with a step-decaying rate and
# global-norm clipping in place of min-char-rnn's element-wise clip.
_FAST = Config(
    dtype="float32",
    loss="mean",
    batch=64,
    val_fraction=0.1,
    eval_every=500,
    optimizer="adam",
    lr=5e-3,
    clip=0.0,
    clip_norm=5.0,
    lr_decay=0.6,
)
# The gated cells start from larger weights than min-char-rnn's 0.01.
_GATED = dataclasses.replace(_FAST, hidden=256, seq_length=32, init_scale=0.05)


def describe(c: Config) -> str:
    """One line naming what a preset sets, for its table entry."""
    size = f"{c.layers}x{c.hidden}" if c.layers > 1 else str(c.hidden)
    feed = f"embedding {c.embedding}" if c.embedding else "one-hot"
    if c.dropout:
        feed += f", dropout {c.dropout:g}"
    betas = f" (beta2 {c.beta2:g})" if c.beta2 != Config.beta2 else ""
    return (
        f"{c.cell.upper()} {size}, {feed}, B={c.batch}, seq {c.seq_length}, "
        f"{c.optimizer.capitalize()} {c.lr:g}{betas} decaying {c.lr_decay:g}x per "
        f"{c.lr_decay_every} its, {c.dtype}"
    )


# The GRU presets read short windows through a learnt embedding: more updates a second than
# long windows of one-hot input, and a shorter memory of squared gradients (beta2) suits
# runs of minutes.
_GRU = dataclasses.replace(_GATED, cell="gru", seq_length=16, embedding=48, beta2=0.99)

# Tuned for held-out loss after 120 s of training (benchmarks/quality.py), `long` for 10
# minutes.
_TUNED: dict[str, Config] = {
    "rnn-fast": dataclasses.replace(
        _FAST,
        hidden=128,
        seq_length=32,
        lr_decay_every=3000,  # it runs ~7x more iterations a second than the gated cells
    ),
    "lstm": dataclasses.replace(_GATED, cell="lstm", lr_decay_every=600),
    "gru": dataclasses.replace(_GRU, lr_decay_every=1200),
    # Ten minutes of the one-layer GRU 256 ended worse than two (1.566 against 1.543 nats/char
    # in tuning): it overfits. Two narrower layers with dropout between them kept improving.
    "long": dataclasses.replace(_GRU, hidden=192, layers=2, dropout=0.2, lr_decay_every=3000),
}

PRESETS: dict[str, tuple[Config, str]] = {
    "classic": (
        Config(),
        "min-char-rnn exactly: RNN 100, seq 25, Adagrad 0.1, summed loss, float64, B=1",
    ),
    **{name: (config, describe(config)) for name, config in _TUNED.items()},
}


def preset(name: str) -> Config:
    if name not in PRESETS:
        raise CharrnnError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name][0]
