"""min-char-rnn restated plainly: one-hot column vectors, a step at a time, no shortcuts.

This is the yardstick the `classic` preset is tested and benchmarked against: the same
equations as Karpathy's script, written independently of the engine. Run as a program it is
that whole script (benchmarks/speed.py times it against `charrnn train --headless`):

    python tests/minchar_reference.py CORPUS_FILE [--iters N]

prints min-char-rnn's log: the data line, a 200-character sample every 100 iterations
(drawn with np.random.choice from the softmax, as the original does) and `iter N, loss: X`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import numpy as np


def loss_fun(inputs, targets, hprev, Wxh, Whh, Why, bh, by):
    """inputs, targets: lists of ids; hprev: (H, 1). Returns loss, grads, last hidden state."""
    vocab_size = Wxh.shape[1]
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0.0
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
        ys[t] = np.dot(Why, hs[t]) + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += np.dot(dy, hs[t].T)
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dhraw
        dWxh += np.dot(dhraw, xs[t].T)
        dWhh += np.dot(dhraw, hs[t - 1].T)
        dhnext = np.dot(Whh.T, dhraw)
    for dparam in [dWxh, dWhh, dWhy, dbh, dby]:
        np.clip(dparam, -5, 5, out=dparam)
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]


def sample(h, seed_ix, n, Wxh, Whh, Why, bh, by):
    """min-char-rnn's sampler: n ids drawn one at a time from the softmax, starting after
    seed_ix from hidden state h (H, 1), with the global np.random as the original."""
    vocab_size = Wxh.shape[1]
    x = np.zeros((vocab_size, 1))
    x[seed_ix] = 1
    ixes = []
    for _ in range(n):
        h = np.tanh(np.dot(Wxh, x) + np.dot(Whh, h) + bh)
        y = np.dot(Why, h) + by
        p = np.exp(y) / np.sum(np.exp(y))
        ix = np.random.choice(range(vocab_size), p=p.ravel())
        x = np.zeros((vocab_size, 1))
        x[ix] = 1
        ixes.append(ix)
    return ixes


def train(
    data_ids,
    vocab_size,
    weights,
    iterations,
    hidden=100,
    seq_length=25,
    lr=0.1,
    sample_every=0,
    on_sample: Callable[[list[int]], None] | None = None,
):
    """min-char-rnn's main loop from the given initial weights; yields (n, loss, smooth_loss).
    With `sample_every`, every that many iterations it samples 200 ids before the step (as
    the original does) and hands them to `on_sample`."""
    Wxh, Whh, Why, bh, by = (np.array(w, dtype=np.float64, copy=True) for w in weights)
    mWxh, mWhh, mWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    mbh, mby = np.zeros_like(bh), np.zeros_like(by)
    smooth_loss = -np.log(1.0 / vocab_size) * seq_length
    n, p = 0, 0
    hprev = np.zeros((hidden, 1))
    while n < iterations:
        if p + seq_length + 1 >= len(data_ids) or n == 0:
            hprev = np.zeros((hidden, 1))
            p = 0
        inputs = data_ids[p : p + seq_length]
        targets = data_ids[p + 1 : p + seq_length + 1]
        if sample_every and n % sample_every == 0:
            on_sample(sample(hprev, inputs[0], 200, Wxh, Whh, Why, bh, by))
        loss, dWxh, dWhh, dWhy, dbh, dby, hprev = loss_fun(
            inputs, targets, hprev, Wxh, Whh, Why, bh, by
        )
        smooth_loss = smooth_loss * 0.999 + loss * 0.001
        for param, dparam, mem in zip(
            [Wxh, Whh, Why, bh, by],
            [dWxh, dWhh, dWhy, dbh, dby],
            [mWxh, mWhh, mWhy, mbh, mby],
            strict=True,
        ):
            mem += dparam * dparam
            param += -lr * dparam / np.sqrt(mem + 1e-8)
        yield n, loss, smooth_loss
        p += seq_length
        n += 1
    train.final = (Wxh, Whh, Why, bh, by)


def main(argv: list[str] | None = None) -> int:
    """min-char-rnn as a program, for whole-process timing (see the module docstring)."""
    parser = argparse.ArgumentParser(description="min-char-rnn, restated")
    parser.add_argument("corpus", help="a UTF-8 text file")
    parser.add_argument("--iters", type=int, default=10**12, help="iterations (default: forever)")
    args = parser.parse_args(argv)
    with open(args.corpus, encoding="utf-8") as f:
        data = f.read()
    chars = sorted(set(data))  # sorted, unlike the original's list(set(...)): repeatable runs
    vocab_size, hidden = len(chars), 100
    print(f"data has {len(data)} characters, {vocab_size} unique.")
    char_to_ix = {ch: i for i, ch in enumerate(chars)}
    np.random.seed(0)
    weights = [
        np.random.randn(hidden, vocab_size) * 0.01,
        np.random.randn(hidden, hidden) * 0.01,
        np.random.randn(vocab_size, hidden) * 0.01,
        np.zeros((hidden, 1)),
        np.zeros((vocab_size, 1)),
    ]

    def show(ixes: list[int]) -> None:
        print("----\n {} \n----".format("".join(chars[ix] for ix in ixes)))

    ids = [char_to_ix[ch] for ch in data]
    for n, _, smooth_loss in train(
        ids, vocab_size, weights, args.iters, hidden, 25, 0.1, 100, show
    ):
        if n % 100 == 0:
            print(f"iter {n}, loss: {smooth_loss:f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
