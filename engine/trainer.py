"""The training loop as an object that steps: it holds every piece of state a run has."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from engine.averaging import weights_in_use
from engine.cells.base import Params, State
from engine.config import Config
from engine.data import BatchStream, fingerprint, split
from engine.errors import CharrnnError
from engine.evaluate import lane_shape, validation_loss
from engine.history import LossHistory
from engine.model import CharModel, Forward
from engine.optim import clip_elementwise, clip_global_norm, make_optimizer
from engine.sampling import SampleSettings, stream_sample
from engine.schedule import Budget, learning_rate
from engine.smoothing import LossSmoother
from engine.statedict import check_rng, check_seed, check_values, load_arrays_into
from engine.vocab import Vocab


@dataclass(frozen=True)
class StepResult:
    iteration: int  # the iteration just trained, counting from 0 as min-char-rnn does
    loss: float  # this window's loss (summed or mean, as the config says)
    smooth_loss: float  # the smoothed loss (min-char-rnn's for classic), same units as `loss`
    nats_per_char: float  # this window's mean loss per character
    smooth_nats_per_char: float
    chars: int  # characters trained on in this step
    seconds: float  # wall time this step took
    reset: bool  # the data pointer wrapped and the hidden state restarted
    lr: float = 0.0  # the learning rate this step used (after any decay)
    val_loss: float | None = None  # held-out nats/char, when this step ended with an evaluation
    val_best: bool = False  # that evaluation is the best so far
    eval_seconds: float = 0.0  # wall time of the evaluation, not counted in `seconds`


class StepObserver(Protocol):
    """What `Trainer.step(observe=...)` shows of one step, its methods called in this order.
    Each is handed the trainer's own arrays, which the rest of the step changes in place:
    copy what you keep. Subclass it to inherit methods that do nothing."""

    def window(
        self, inputs: np.ndarray, targets: np.ndarray, state: list[State], rng: np.random.Generator
    ) -> None:
        """Before the forward pass: the (B, T) window, the state it starts from (zero after
        a reset), and the generator that is about to draw the dropout masks."""

    def gradients(self, fwd: Forward, grads: Params) -> None:
        """After the backward pass: the window's loss and the gradients before clipping."""

    def updating(self, params: Params, grads: Params) -> None:
        """Before the optimiser's update: the weights as they are, the clipped gradients (and
        the learning rate already set on the optimiser)."""

    def updated(self, params: Params) -> None:
        """After the optimiser's update: the new weights."""


@dataclass(frozen=True)
class CorpusInfo:
    name: str
    fingerprint: str
    length: int


class Trainer:
    def __init__(
        self,
        config: Config,
        text: str,
        *,
        seed: int = 0,
        corpus_name: str = "corpus",
        vocab: Vocab | None = None,
    ) -> None:
        self.config = config.validate()
        self.vocab = vocab if vocab is not None else Vocab.from_text(text)
        config.check_memory(len(self.vocab))
        ids = self.vocab.encode(text, what=f"corpus {corpus_name!r}")
        if len(ids) < config.seq_length + 1:
            raise CharrnnError(
                f"corpus {corpus_name!r} has {len(ids)} characters; training needs at least "
                f"seq_length + 1 = {config.seq_length + 1}"
            )
        self.corpus = CorpusInfo(corpus_name, fingerprint(text), len(text))
        self.train_ids, self.val_ids = split(ids, config.val_fraction)
        if config.val_fraction > 0 and len(self.val_ids) < 2:
            raise CharrnnError(
                f"val_fraction {config.val_fraction} holds out {len(self.val_ids)} of "
                f"{len(ids)} characters; validation needs at least 2"
            )
        self.stream = BatchStream(self.train_ids, config.batch, config.seq_length)
        self.model = CharModel(config, len(self.vocab))
        self.seed = check_seed(seed)
        self.params: Params = self.model.init_params(seed)
        self.optimizer = make_optimizer(config, self.params)
        # What sampling and evaluation read (arrays updated in place, so set once).
        self.weights: Params = weights_in_use(config, self.params, self.optimizer.state)
        self.state: list[State] = self.model.zero_state(config.batch)
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.iteration = 0  # the next iteration to train
        # min-char-rnn's average for its summed loss, an honest short one otherwise.
        self.smoother = LossSmoother.for_config(config, len(self.vocab))
        self.history = LossHistory()  # nats per character of every iteration, bounded
        self.elapsed = 0.0  # seconds spent training inside step(), evaluations excluded
        self.budget = Budget()  # where the run ends, and what an annealed schedule ends at
        self.val_history: list[tuple[int, float]] = []  # (iteration, held-out nats/char)

    # -- training -----------------------------------------------------------------------

    @property
    def loss_units(self) -> int:
        """Characters per unit of `loss`: seq_length for a summed window, 1 for a mean."""
        return self.config.seq_length if self.config.loss == "sum" else 1

    def step(self, observe: StepObserver | None = None) -> StepResult:
        """Train one iteration on the next window of every stream, showing its inner values
        to `observe` as they are made (the inspect screen's step statistics); no observer
        costs nothing."""
        start = time.perf_counter()
        inputs, targets, reset = self.stream.next_window()
        if reset:
            self.state = self.model.zero_state(self.config.batch)
        if observe is not None:
            observe.window(inputs, targets, self.state, self.rng)
        # The trainer's rng (checkpointed) draws the dropout masks, so resuming stays exact.
        fwd, grads, self.state = self.model.loss_and_grads(
            self.params, inputs, targets, self.state, self.rng
        )
        if observe is not None:
            observe.gradients(fwd, grads)
        self.smoother.update(fwd.loss)
        clip_elementwise(grads, self.config.clip)
        if self.config.clip_norm > 0:
            clip_global_norm(grads, self.config.clip_norm)
        self.optimizer.lr = lr = self.learning_rate
        if observe is not None:
            observe.updating(self.params, grads)
        self.optimizer.update(self.params, grads)
        if observe is not None:
            observe.updated(self.params)
        self.history.append(fwd.nats_per_char)
        seconds = time.perf_counter() - start
        self.iteration += 1
        self.elapsed += seconds
        val_loss, val_best, eval_seconds = self._evaluate_if_due()
        return StepResult(
            iteration=self.iteration - 1,
            loss=fwd.loss,
            smooth_loss=self.smoother.value,
            nats_per_char=fwd.nats_per_char,
            smooth_nats_per_char=self.smooth_nats_per_char,
            chars=targets.size,
            seconds=seconds,
            reset=reset,
            lr=lr,
            val_loss=val_loss,
            val_best=val_best,
            eval_seconds=eval_seconds,
        )

    def _evaluate_if_due(self) -> tuple[float | None, bool, float]:
        """After a step: (held-out loss, whether it is the best so far, seconds it took) when
        the iteration just trained is followed by an evaluation, else (None, False, 0.0)."""
        if not self.eval_due(self.iteration - 1):
            return None, False, 0.0
        before = self.best_val_loss
        start = time.perf_counter()
        val_loss = self.record_validation(self.iteration - 1)
        val_best = math.isfinite(val_loss) and (before is None or val_loss < before)
        return val_loss, val_best, time.perf_counter() - start

    def train(self, iterations: int) -> list[StepResult]:
        return [self.step() for _ in range(iterations)]

    @property
    def learning_rate(self) -> float:
        """The rate the next step trains at (engine/schedule.py)."""
        progress = self.budget.progress(self.iteration, self.elapsed)
        return learning_rate(self.config, self.iteration, progress)

    @property
    def loss_history(self) -> np.ndarray:
        """The loss history's points as float32, oldest first (see engine.history): one per
        iteration for the first 65,536, then means of evenly spaced blocks of iterations."""
        return self.history.values()

    @property
    def smooth_loss(self) -> float:
        """The running average as checkpoints store it (min-char-rnn's figure for classic)."""
        return self.smoother.raw

    @property
    def smooth_nats_per_char(self) -> float:
        """The smoothed loss to show, in nats per character (see engine/smoothing.py)."""
        return self.smoother.value / self.loss_units

    @property
    def diverged(self) -> bool:
        return not math.isfinite(self.smooth_loss)

    # -- validation ---------------------------------------------------------------------

    @property
    def has_validation(self) -> bool:
        return len(self.val_ids) >= 2

    def eval_due(self, iteration: int) -> bool:
        """Whether iteration n (counted from 0) is followed by an evaluation: n = 0, K, 2K, ...
        for eval_every K, so validation lines fall on the same `iter N` as min-char-rnn's."""
        every = self.config.eval_every
        return bool(every) and self.has_validation and iteration % every == 0

    def evaluate(self, full: bool = False) -> float:
        """Mean nats per character over the held-out split, at most `config.val_chars` of it
        unless `full` (see engine.evaluate for exactly how). Reads the weights only: training
        state, cursors and RNG are untouched."""
        if not self.has_validation:
            raise CharrnnError("no held-out text to evaluate on (val_fraction is 0)")
        limit = None if full or not self.config.val_chars else self.config.val_chars
        return validation_loss(self.model, self.weights, self.val_ids, limit=limit)

    @property
    def validation_scope(self) -> tuple[int, int]:
        """(characters a validation pass predicts, characters held out): for saying in the
        log when a pass reads only part of the held-out text."""
        if not self.has_validation:
            return 0, 0
        lanes, _, per_lane = lane_shape(len(self.val_ids), limit=self.config.val_chars or None)
        return lanes * per_lane, len(self.val_ids)

    def record_validation(self, iteration: int) -> float:
        """Evaluate now and add (iteration, loss) to the history."""
        loss = self.evaluate()
        self.val_history.append((iteration, loss))
        return loss

    @property
    def last_val_loss(self) -> float | None:
        return self.val_history[-1][1] if self.val_history else None

    @property
    def best_val_loss(self) -> float | None:
        finite = [v for _, v in self.val_history if math.isfinite(v)]
        return min(finite) if finite else None

    # -- sampling -----------------------------------------------------------------------

    def sample(
        self,
        settings: SampleSettings,
        prime: str | None = None,
        rng: np.random.Generator | None = None,
        start: str = "auto",
    ) -> str:
        """Text from the model. `start` chooses the state (engine.sampling.start_state):
        "auto" starts a prime from a zero state, as char-rnn does, and continues training's
        stream 0 without one (from the next input, as min-char-rnn samples); "zero" and
        "carried" force either. With a prime the result begins with the prime."""
        carried = [tuple(a[:1].copy() for a in s) for s in self.state]
        first = None if prime else self.stream.next_input()
        pieces = stream_sample(
            self.model,
            self.weights,
            self.vocab,
            settings,
            rng if rng is not None else self.rng,
            prime=prime,
            carried=carried,
            start=start,
            first_id=first,
        )
        return "".join(pieces)

    # -- state dictionaries ---------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything this run needs to continue exactly, as numpy arrays and JSON-able values:
        what it was built with (config, vocab, seed, corpus), its counters and random state,
        and its arrays. The arrays of params, optimizer and state are the trainer's own, not
        copies: write them out before the next step."""
        return {
            "config": self.config.to_dict(),
            "vocab": self.vocab.chars,
            "seed": self.seed,
            "corpus": dataclasses.asdict(self.corpus),
            "iteration": self.iteration,
            "smooth_loss": self.smooth_loss,
            "elapsed": self.elapsed,
            # Only a run with a budget says so: other files stay as they always were.
            **({"budget": self.budget.to_dict()} if self.budget.limited else {}),
            "stream": self.stream.state_dict(),
            "rng": self.rng.bit_generator.state,
            "params": dict(self.params),
            "optimizer": self.optimizer.state_dict(),
            "state": [list(layer) for layer in self.state],
            "loss_history": self.history.values(),
            "val_history": np.array(self.val_history, dtype=np.float64).reshape(-1, 2),
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Continue from `d` (as `state_dict` makes it), after checking every value and array
        against this trainer (a CharrnnError naming the first that does not fit). This
        trainer keeps its own config, whose model and data layout must be `d`'s. If it
        raises, the trainer may be partly overwritten: load into a fresh one, as
        `checkpoint.restore` does. The data cursor is taken only if the corpus is the same."""
        check_values(d)
        if d["vocab"] != self.vocab.chars:
            raise CharrnnError("the saved vocabulary is not this trainer's")
        state = d["state"]
        if len(state) != len(self.state):
            raise CharrnnError(f"state has {len(state)} layers, the model has {len(self.state)}")
        load_arrays_into("params", d["params"], self.params)
        self.optimizer.load_state_dict(d["optimizer"])
        for i, (saved, own) in enumerate(zip(state, self.state, strict=True)):
            load_arrays_into(f"layer {i} state", dict(enumerate(saved)), dict(enumerate(own)))
        self.seed = d["seed"]
        self.iteration = d["iteration"]
        self.smoother = LossSmoother.for_config(
            self.config, len(self.vocab), raw=float(d["smooth_loss"]), count=self.iteration
        )
        self.elapsed = float(d["elapsed"])
        # Saved before budgets existed: none, as such a run had.
        self.budget = Budget.from_dict(d["budget"]) if "budget" in d else Budget()
        self.rng.bit_generator.state = check_rng(d["rng"])
        if d["corpus"]["fingerprint"] == self.corpus.fingerprint:
            self.stream.load_state_dict(d["stream"])
            if "epoch" not in d["stream"]:  # saved before epochs were counted: as if unbroken
                self.stream.epoch = self.iteration // self.stream.windows_per_epoch
        losses = _float_rows(d["loss_history"], "loss_history", 1)
        self.history = LossHistory.from_points([losses], len(losses), self.iteration)
        val = _float_rows(d["val_history"], "val_history", 2)
        at = val[:, 0]
        if not (np.isfinite(at).all() and (at >= 0).all() and (at == np.round(at)).all()):
            raise CharrnnError("val_history's iterations must be whole numbers of at least 0")
        self.val_history = [(int(n), float(v)) for n, v in val]

    # -- summaries ----------------------------------------------------------------------

    @property
    def param_count(self) -> int:
        return self.model.param_count(self.params)

    def summary(self) -> str:
        c = self.config
        layers = f"{c.layers}x" if c.layers > 1 else ""
        return f"{c.cell} {layers}{c.hidden}, {self.param_count:,} params, vocab {len(self.vocab)}"


def _float_rows(values: Any, name: str, width: int) -> np.ndarray:
    """`values` as a float array of shape (n,) for width 1, or (n, width)."""
    if not isinstance(values, np.ndarray) or values.dtype.kind != "f":
        raise CharrnnError(f"{name} must be an array of floats")
    if (values.ndim != 1) if width == 1 else (values.ndim != 2 or values.shape[1] != width):
        expected = "(n,)" if width == 1 else f"(n, {width})"
        raise CharrnnError(f"{name} has shape {values.shape}, expected {expected}")
    return values
