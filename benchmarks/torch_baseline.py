"""The PyTorch reference for the quality benchmark: an nn.LSTM character model set up as a
PyTorch user would (nn.Embedding input, Adam, minibatches, gradient-norm clipping), trained
and evaluated exactly as our engine is (same split, batch stream and validation code).

Imported only when torch is importable; PyTorch is never a dependency of charrnn.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.data import BatchStream, split
from engine.evaluate import EVAL_CHUNK, lanes_of, mean_nats_over_lanes, nats_of_logits
from engine.vocab import Vocab


@dataclass(frozen=True)
class TorchSettings:
    """The baseline's hyper-parameters. The defaults are the best of the settings tried in
    tuning (see NOTES / the README): embedding 64 against one-hot, windows of 25 to 64, Adam
    learning rates of 2e-3 to 5e-3, at LSTM 256 and B=64."""

    hidden: int = 256
    embedding: int = 64  # nn.Embedding width; 0 feeds one-hot vectors
    seq_length: int = 25
    batch: int = 64
    lr: float = 4e-3
    clip_norm: float = 5.0

    def replace(self, **changes: str) -> TorchSettings:
        """With fields given as text (from the command line), converted to their types."""
        typed = {k: type(getattr(self, k))(v) for k, v in changes.items()}
        return dataclasses.replace(self, **typed)


class CharLSTM(nn.Module):
    def __init__(self, vocab: int, settings: TorchSettings) -> None:
        super().__init__()
        self.vocab = vocab
        width = settings.embedding or vocab
        self.embed = nn.Embedding(vocab, settings.embedding) if settings.embedding else None
        self.lstm = nn.LSTM(width, settings.hidden)  # time-major (T, B, D), as our engine
        self.out = nn.Linear(settings.hidden, vocab)

    def forward(self, ids: torch.Tensor, state):
        if self.embed is not None:
            x = self.embed(ids)
        else:
            x = nn.functional.one_hot(ids, self.vocab).float()
        hs, state = self.lstm(x, state)
        return self.out(hs), state


class Baseline:
    """One training step at a time, and the shared held-out evaluation."""

    def __init__(self, text: str, seed: int, settings: TorchSettings | None = None) -> None:
        self.settings = s = settings or TorchSettings()
        torch.manual_seed(seed)
        vocab = Vocab.from_text(text)
        self.vocab_size = len(vocab)
        train_ids, self.val_ids = split(vocab.encode(text, what="corpus"), 0.1)
        self.stream = BatchStream(train_ids, s.batch, s.seq_length)
        self.model = CharLSTM(self.vocab_size, s)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=s.lr)
        self.loss_fn = nn.CrossEntropyLoss()
        self.state = None
        self.chars_per_step = s.batch * s.seq_length
        feed = f"nn.Embedding {s.embedding}" if s.embedding else "one-hot input"
        self.description = (
            f"torch {torch.__version__} nn.LSTM {s.hidden}, {feed}, Adam {s.lr}, "
            f"B={s.batch}, seq {s.seq_length}, clip_grad_norm_ {s.clip_norm}, float32"
        )

    def set_lr(self, lr: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = lr

    def step(self) -> float:
        x, y, reset = self.stream.next_window()
        if reset:
            self.state = None
        logits, state = self.model(torch.from_numpy(x), self.state)
        self.state = tuple(s.detach() for s in state)
        loss = self.loss_fn(logits.reshape(-1, self.vocab_size), torch.from_numpy(y).reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.clip_norm)
        self.opt.step()
        return loss.item()

    def evaluate(self) -> float:
        return evaluate(self.model, self.val_ids)


@torch.no_grad()
def evaluate(model: CharLSTM, val_ids: np.ndarray) -> float:
    """The held-out loss defined in engine/evaluate.py, with this model plugged in."""
    inputs, targets = lanes_of(val_ids)

    def chunk_nats(x: np.ndarray, y: np.ndarray, state):
        logits, state = model(torch.from_numpy(x), state)
        return nats_of_logits(logits.numpy(), y), state

    return mean_nats_over_lanes(chunk_nats, inputs, targets, None, EVAL_CHUNK)
