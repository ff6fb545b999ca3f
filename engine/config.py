"""Every hyper-parameter in one dataclass, and the named presets."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.cells import BUILT_IN
from engine.cells.registry import NAME_PATTERN, cell_names, cell_type, unknown_cell
from engine.errors import CharrnnError
from engine.statedict import shown

CELLS = BUILT_IN  # the built-in cells' names (engine/cells/); a user's cell joins at run time
# adagrad: min-char-rnn's p -= lr*g/sqrt(mem + 1e-8); adagrad-torch: PyTorch's
# p -= lr*g/(sqrt(mem) + 1e-10), which learns better with minibatches; adam: bias-corrected.
OPTIMIZERS = ("adagrad", "adagrad-torch", "adam")
DTYPES = ("float64", "float32")
LOSS_REDUCTIONS = ("sum", "mean")
# step: the presets' decay every lr_decay_every iterations, floored; anneal: held, then down
# to the floor as the run's budget (--minutes or --iters) ends (engine/schedule.py).
SCHEDULES = ("step", "anneal")
RETIRED_FIELDS = frozenset({"sample_every", "sample_length"})
ASSUMED_VOCAB = 256  # for size estimates before the vocabulary is known
MAX_MEMORY_BYTES = 16 * 10**9  # far beyond what numpy trains at a useful speed on a CPU
# Upper bounds checked before anything is allocated: (limit, reason); an empty reason says
# how much memory the value asked for would take.
LIMITS: dict[str, tuple[int, str]] = {
    "hidden": (4096, ""),
    "layers": (32, ""),
    "embedding": (4096, ""),
    "seq_length": (4096, ""),
    "batch": (4096, ""),
    "workers": (64, "a minibatch split more ways than that is mostly thread overhead"),
}


@dataclass(frozen=True)
class Config:
    # Fields a resumed run may change: they steer the optimiser, the evaluation and the
    # samples, not the model or the data layout (nanoGPT and char-rnn keep the same rule
    # beside their loads).
    RESUMABLE: ClassVar[frozenset[str]] = frozenset(
        {
            "lr",
            "clip",
            "clip_norm",
            "lr_decay",
            "lr_decay_every",
            "lr_floor",
            "schedule",
            "eval_every",
            "val_chars",
            "workers",
        }
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
    # Decay of a running average of the weights that sampling and evaluation use
    # (engine/averaging.py); 0 keeps none and uses the trained weights as they are.
    average: float = 0.0
    clip: float = 5.0  # element-wise gradient clip, +-clip; 0 disables
    clip_norm: float = 0.0  # global L2-norm clip over all gradients after `clip`; 0 disables
    lr_decay: float = 1.0  # step schedule: lr * lr_decay ** (iteration // lr_decay_every)
    lr_decay_every: int = 1000
    schedule: str = "step"  # or "anneal" to the run's budget (engine/schedule.py)
    # The lowest rate either schedule reaches, as a fraction of lr: step decay stops there,
    # the anneal ends there (docs/presets.md: 1/20, measured).
    lr_floor: float = 0.05
    dtype: str = "float64"
    loss: str = "sum"  # "sum" over the window (min-char-rnn) or "mean" per character
    init_scale: float = 0.01  # weights ~ randn * init_scale, biases zero
    val_fraction: float = 0.0  # held-out tail of the corpus
    eval_every: int = 0  # evaluate the held-out tail every N iterations; 0 never
    val_chars: int = 200_000  # characters a validation pass predicts, evenly spread; 0 all
    # Threads each minibatch's streams are split across (engine/parallel.py); 0 picks (see
    # `threads`). Not a hyper-parameter: only the order of floating-point sums changes.
    workers: int = 0

    def validate(self) -> Config:
        """Self, or a CharrnnError naming the first bad value: its type, its range, then
        whether the model it describes fits in memory."""
        self._check_types()
        self._check_ranges()
        self._check_sizes()
        return self

    def _check_types(self) -> None:
        # Values may come from a checkpoint's JSON: 1.5 hidden units or a string rate would
        # otherwise fail somewhere deep inside numpy.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise CharrnnError(f"{f.name} must be a whole number (got {shown(value)})")
            if f.type == "float" and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise CharrnnError(f"{f.name} must be a finite number (got {shown(value)})")
            if f.type == "str" and not isinstance(value, str):
                raise CharrnnError(f"{f.name} must be a string (got {shown(value)})")

    def _check_ranges(self) -> None:
        for name in ("hidden", "layers", "seq_length", "batch", "lr_decay_every"):
            if getattr(self, name) < 1:
                raise CharrnnError(f"{name} must be at least 1 (got {getattr(self, name)})")
        if self.eval_every < 0:
            raise CharrnnError(f"eval_every must be 0 (never) or more (got {self.eval_every})")
        if self.val_chars < 0:
            raise CharrnnError(f"val_chars must be 0 (all) or more (got {self.val_chars})")
        if not 0 <= self.workers <= self.batch:
            raise CharrnnError(
                f"workers must be 0 (automatic) to batch = {self.batch} (got {self.workers})"
            )
        if self.cell not in cell_names():
            raise CharrnnError(unknown_cell(self.cell))
        for name, allowed in (
            ("optimizer", OPTIMIZERS),
            ("dtype", DTYPES),
            ("loss", LOSS_REDUCTIONS),
            ("schedule", SCHEDULES),
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
        if not 0 <= self.lr_floor <= 1:
            raise CharrnnError(f"lr_floor must be in [0, 1] (got {self.lr_floor})")
        for name in ("beta1", "beta2", "average"):
            if not 0 <= getattr(self, name) < 1:
                raise CharrnnError(f"{name} must be in [0, 1) (got {getattr(self, name)})")
        if not 0 <= self.val_fraction < 1:
            raise CharrnnError(f"val_fraction must be in [0, 1) (got {self.val_fraction})")
        if self.embedding < 0:
            raise CharrnnError(f"embedding must be 0 (one-hot) or more (got {self.embedding})")
        if not 0 <= self.dropout < 1:
            raise CharrnnError(f"dropout must be in [0, 1) (got {self.dropout})")
        if not self.init_scale > 0:
            raise CharrnnError(f"init_scale must be positive (got {self.init_scale})")

    def _check_sizes(self) -> None:
        """Upper bounds, before anything is allocated: each size on its own, then the memory
        the whole model would take."""
        for name, (limit, reason) in LIMITS.items():
            value = getattr(self, name)
            if value > limit:
                why = reason or (
                    f"{name} {value} would need about {self.memory_estimate() / 1e9:.3g} GB "
                    "of memory"
                )
                raise CharrnnError(f"{name} must be at most {limit} (got {value}): {why}")
        self.check_memory(ASSUMED_VOCAB)

    @property
    def threads(self) -> int:
        """How many threads train: `workers`, or when it is 0, two on a machine with two
        cores or more if the minibatch has at least 32 streams (halves smaller than 16 rows
        cost more in thread hand-offs than the second core gives back)."""
        if self.workers:
            return self.workers
        return 2 if (os.cpu_count() or 1) >= 2 and self.batch >= 32 else 1

    def param_count_estimate(self, vocab_size: int) -> int:
        """About how many weights the model has (exact for rnn and lstm)."""
        g, h, v = cell_type(self.cell).weight_blocks, self.hidden, vocab_size
        inputs = (self.embedding or v) + (self.layers - 1) * h
        recurrent = g * h * (inputs + self.layers * h) + self.layers * (g + 1) * h
        return recurrent + v * (h + 1) + v * self.embedding

    def memory_estimate(self, vocab_size: int = ASSUMED_VOCAB) -> int:
        """Bytes for the weights, their gradients and optimiser state, and what one window's
        forward pass keeps for the backward pass (an estimate, for refusing absurd sizes)."""
        itemsize = 8 if self.dtype == "float64" else 4
        # weights, gradients, 1 or 2 moments, and the average when there is one
        copies = (4 if self.optimizer == "adam" else 3) + (self.average > 0)
        blocks = cell_type(self.cell).weight_blocks
        per_step = self.layers * (blocks + 2) * self.hidden + 2 * vocab_size
        activations = self.seq_length * self.batch * per_step
        return itemsize * (copies * self.param_count_estimate(vocab_size) + activations)

    def check_memory(self, vocab_size: int) -> None:
        """A CharrnnError if this model, with this vocabulary, would need too much memory."""
        need = self.memory_estimate(vocab_size)
        if need > MAX_MEMORY_BYTES:
            raise CharrnnError(
                f"this model would need about {need / 1e9:.3g} GB of memory (weights, "
                f"gradients, optimiser state and one window's activations; at most "
                f"{MAX_MEMORY_BYTES / 1e9:.0f} GB): reduce hidden, layers, batch or seq_length"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        known = {f.name for f in dataclasses.fields(cls)}
        # Sampling is a run's policy, not the model's: older checkpoints still carry these.
        values = {k: v for k, v in values.items() if k not in RETIRED_FIELDS}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CharrnnError(f"unknown configuration fields: {', '.join(unknown)}")
        return cls(**values).validate()

    @classmethod
    def described(cls, values: dict[str, Any]) -> Config:
        """A config read only to be described (compare's legend, from a run's run.json). A
        cell this process has not loaded, a user's own, is kept by its name: its other
        fields are checked as they would be with the rnn."""
        cell = values.get("cell") if isinstance(values, dict) else None
        if not isinstance(cell, str) or cell in cell_names() or not NAME_PATTERN.fullmatch(cell):
            return cls.from_dict(values)
        return dataclasses.replace(cls.from_dict({**values, "cell": "rnn"}), cell=cell)

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
    """The hyper-parameters that tell configurations apart, on one short line (preset
    listings and the legends of compared runs)."""
    model = (
        f"{c.cell.upper()} {c.layers}x{c.hidden}"
        if c.layers > 1
        else f"{c.cell.upper()} {c.hidden}"
    )
    optimizer = f"{c.optimizer} {c.lr:g}"
    if c.optimizer == "adam" and c.beta2 != Config.beta2:
        optimizer += f" beta2 {c.beta2:g}"
    parts = [model, f"B{c.batch}", f"seq {c.seq_length}", optimizer]
    if c.schedule == "anneal":
        parts.append("anneal")
    elif c.lr_decay < 1:
        parts.append(f"decay {c.lr_decay:g}/{c.lr_decay_every}")
    if c.dropout:
        parts.append(f"dropout {c.dropout:g}")
    if c.average:
        parts.append(f"average {c.average:g}")
    if c.embedding:
        parts.append(f"embed {c.embedding}")
    parts.append(c.dtype)
    return ", ".join(parts)


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
    # A 120-s run is ~4,400 iterations here. Sampled and evaluated with the weights'
    # running average, whose smoothing lets the rate stay high longer: halved every 1,800
    # iterations (every 900 without the average).
    "gru": dataclasses.replace(_GRU, lr_decay=0.5, lr_decay_every=1800, average=0.998),
    # Ten minutes of the one-layer GRU 256 ended worse than two (1.566 against 1.543 nats/char
    # in tuning): it overfits. Two narrower layers with dropout between them kept improving.
    # Averaging changes nothing at 10 minutes but is 0.05-0.07 better on the way there.
    "long": dataclasses.replace(
        _GRU,
        hidden=192,
        layers=2,
        dropout=0.2,
        lr_decay=0.5,
        lr_decay_every=3000,
        average=0.998,
    ),
}

PRESETS: dict[str, tuple[Config, str]] = {
    "classic": (
        Config(),
        f"min-char-rnn exactly: {describe(Config())}, summed loss",
    ),
    **{name: (config, describe(config)) for name, config in _TUNED.items()},
}


def preset(name: str) -> Config:
    if name not in PRESETS:
        raise CharrnnError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name][0]
