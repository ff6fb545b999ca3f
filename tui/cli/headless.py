"""`charrnn train --headless`: min-char-rnn's own log, line for line, under the run policy."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from engine.trainer import StepResult, Trainer
from tui.protocol import Event, Notice
from tui.run import RunPolicy, RunSettings
from tui.rundir import RunDir


def say(event: Event) -> None:
    """What the run policy reports, as the log's stderr lines (saves are said at the end)."""
    if isinstance(event, Notice) and event.severity != "information":
        print(f"charrnn: {event.severity}: {event.text}", file=sys.stderr, flush=True)


def train_headless(
    trainer: Trainer,
    settings: RunSettings,
    run_dir: Path | None,
    log_every: int,
    source: tuple[str, str | None] = ("corpus", None),
) -> int:
    """Train until --iters or Ctrl-C; `source` (corpus as named, preset) goes in run.json."""
    rundir = RunDir(run_dir).create() if run_dir else None
    policy = RunPolicy(rundir, settings, say)
    policy.begin(trainer, *source, detached=False)
    print(f"data has {trainer.corpus.length} characters, {len(trainer.vocab)} unique.", flush=True)
    status = 0
    try:
        while settings.stop_at is None or trainer.iteration < settings.stop_at:
            n = trainer.iteration
            if policy.sample_due(trainer):
                sample = policy.sample(trainer, settings.temperature)
                if sample is not None:
                    print(f"----\n {sample.text} \n----", flush=True)
            result = trainer.step()
            if trainer.diverged:
                print(
                    f"charrnn: error: training diverged at iteration {n} (loss is "
                    f"{result.loss}); try a lower learning rate",
                    file=sys.stderr,
                )
                policy.end(trainer, "stopped", "diverged")
                return 1
            if n % log_every == 0:
                print(f"iter {n}, loss: {result.smooth_loss:f}", flush=True)
            if result.val_loss is not None:
                print(validation_line(result), flush=True)
            policy.after_step(trainer, result)
            if result.val_loss is not None or n % settings.metrics_every == 0:
                policy.flush_records()
                policy.note(trainer)
    except KeyboardInterrupt:
        print(f"\ninterrupted at iteration {trainer.iteration}", file=sys.stderr)
        status = 130
    finally:
        policy.flush_records()
        report = policy.exit_save(trainer)
        for path in report.saved:
            print(f"saved iteration {report.iteration} to {path}", file=sys.stderr)
        for error in report.errors:
            print(f"charrnn: error: {error}", file=sys.stderr)
            status = status or 1
        if not trainer.diverged:
            policy.end(trainer, "stopped" if status else "finished", "; ".join(report.errors))
    return status


def validation_line(result: StepResult) -> str:
    val = result.val_loss or math.nan
    best = " (best)" if result.val_best else ""
    return (
        f"iter {result.iteration}, val loss: {val:.4f} nats/char ({val / math.log(2):.4f} bits)"
        f"{best}"
    )
