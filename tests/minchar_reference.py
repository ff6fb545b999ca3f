"""min-char-rnn restated plainly: one-hot column vectors, a step at a time, no shortcuts.

This is the yardstick the `classic` preset is tested and benchmarked against: the same
equations as Karpathy's script, written independently of the engine.
"""

from __future__ import annotations

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


def train(data_ids, vocab_size, weights, iterations, hidden=100, seq_length=25, lr=0.1):
    """min-char-rnn's main loop from the given initial weights; yields (n, loss, smooth_loss)."""
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
