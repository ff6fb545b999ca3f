"""`charrnn train --headless`: min-char-rnn's own log, line for line."""

from __future__ import annotations

import argparse
import sys

from engine import checkpoint
from engine.sampling import SampleSettings
from engine.trainer import Trainer


def train_headless(trainer: Trainer, args: argparse.Namespace) -> int:
    config = trainer.config
    settings = SampleSettings(length=config.sample_length, temperature=args.temperature)
    stop_at = None if args.iters is None else trainer.iteration + args.iters
    print(f"data has {trainer.corpus.length} characters, {len(trainer.vocab)} unique.", flush=True)
    status = 0
    try:
        while stop_at is None or trainer.iteration < stop_at:
            n = trainer.iteration
            if config.sample_every and n % config.sample_every == 0:
                print(f"----\n {trainer.sample(settings)} \n----", flush=True)
            result = trainer.step()
            if trainer.diverged:
                print(
                    f"charrnn: error: training diverged at iteration {n} (loss is "
                    f"{result.loss}); try a lower learning rate",
                    file=sys.stderr,
                )
                return 1
            if n % args.log_every == 0:
                print(f"iter {n}, loss: {result.smooth_loss:f}", flush=True)
    except KeyboardInterrupt:
        print(f"\ninterrupted at iteration {trainer.iteration}", file=sys.stderr)
        status = 130
    finally:
        if args.save and not trainer.diverged:
            path = checkpoint.save(trainer, args.save)
            print(f"saved iteration {trainer.iteration} to {path}", file=sys.stderr)
    return status
