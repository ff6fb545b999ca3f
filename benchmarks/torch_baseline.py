"""The PyTorch reference for the benchmarks: nn.LSTM on one-hot characters, trained and
evaluated exactly as our engine is (same split, batch stream and validation code).

Imported only when torch is importable; PyTorch is never a dependency of charrnn.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from engine.data import BatchStream, split
from engine.evaluate import EVAL_CHUNK, lanes_of, mean_nats_over_lanes, nats_of_logits
from engine.vocab import Vocab

HIDDEN, BATCH, SEQ_LENGTH, LR, CLIP_NORM = 256, 64, 64, 2e-3, 5.0


class CharLSTM(nn.Module):
    def __init__(self, vocab: int, hidden: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.lstm = nn.LSTM(vocab, hidden)  # time-major (T, B, V), as our engine
        self.out = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor, state):
        x = nn.functional.one_hot(ids, self.vocab).float()
        hs, state = self.lstm(x, state)
        return self.out(hs), state


class Baseline:
    """One training step at a time, and the shared held-out evaluation."""

    def __init__(self, text: str, seed: int) -> None:
        torch.manual_seed(seed)
        vocab = Vocab.from_text(text)
        self.vocab_size = len(vocab)
        train_ids, self.val_ids = split(vocab.encode(text, what="corpus"), 0.1)
        self.stream = BatchStream(train_ids, BATCH, SEQ_LENGTH)
        self.model = CharLSTM(self.vocab_size, HIDDEN)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.loss_fn = nn.CrossEntropyLoss()
        self.state = None
        self.chars_per_step = BATCH * SEQ_LENGTH
        self.description = (
            f"torch {torch.__version__} nn.LSTM {HIDDEN}, one-hot input, Adam {LR}, "
            f"B={BATCH}, seq {SEQ_LENGTH}, clip_grad_norm_ {CLIP_NORM}, float32"
        )

    def step(self) -> float:
        x, y, reset = self.stream.next_window()
        if reset:
            self.state = None
        logits, state = self.model(torch.from_numpy(x), self.state)
        self.state = tuple(s.detach() for s in state)
        loss = self.loss_fn(logits.reshape(-1, self.vocab_size), torch.from_numpy(y).reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), CLIP_NORM)
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
