"""`charrnn train --headless`: min-char-rnn's own log, line for line."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from engine import checkpoint
from engine.sampling import SampleSettings
from engine.trainer import StepResult, Trainer
from tui.rundir import RunDir


def train_headless(trainer: Trainer, args: argparse.Namespace) -> int:
    config = trainer.config
    settings = SampleSettings(length=config.sample_length, temperature=args.temperature)
    stop_at = None if args.iters is None else trainer.iteration + args.iters
    run_dir = RunDir(Path(args.run_dir)).create() if getattr(args, "run_dir", None) else None
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
            if result.val_loss is not None:
                report_validation(trainer, result, run_dir)
    except KeyboardInterrupt:
        print(f"\ninterrupted at iteration {trainer.iteration}", file=sys.stderr)
        status = 130
    finally:
        targets = [Path(args.save)] if args.save else []
        targets += [run_dir.latest] if run_dir else []
        for target in targets if not trainer.diverged else []:
            try:
                path = checkpoint.save(trainer, target)
            except OSError as exc:  # the checkpoint before it, if any, is intact (atomic)
                print(
                    f"charrnn: error: not saved to {target}: {exc.strerror or exc}", file=sys.stderr
                )
                status = status or 1
            else:
                print(f"saved iteration {trainer.iteration} to {path}", file=sys.stderr)
    return status


def report_validation(trainer: Trainer, result: StepResult, run_dir: RunDir | None) -> None:
    """The validation line; with a run directory, its metrics line and the best checkpoint."""
    val = result.val_loss
    best = " (best)" if result.val_best else ""
    print(
        f"iter {result.iteration}, val loss: {val:.4f} nats/char ({val / math.log(2):.4f} bits)"
        f"{best}",
        flush=True,
    )
    if run_dir is None:
        return
    try:
        run_dir.append_metrics([{"iteration": result.iteration, "val_loss": val}])
        if result.val_best:
            checkpoint.save(trainer, run_dir.best)
    except OSError as exc:  # a full disk must not end the run: say so and train on
        print(f"charrnn: warning: {run_dir.path}: {exc.strerror or exc}", file=sys.stderr)
