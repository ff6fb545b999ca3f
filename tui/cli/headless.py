"""`charrnn train --headless`: min-char-rnn's own log, line for line, under the run policy."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from engine.trainer import StepResult, Trainer
from tui.cli import STDOUT_CLOSED, silence_stdout
from tui.runs.policy import RunPolicy, RunSettings, quiet_overflow, validation_note
from tui.runs.protocol import Event, Notice
from tui.runs.rundir import RunDir
from tui.visible import shown


def say(event: Event) -> None:
    """What the run policy reports, as the log's stderr lines (saves are said at the end)."""
    if isinstance(event, Notice) and event.severity != "information":
        print(f"charrnn: {event.severity}: {event.text}", file=sys.stderr, flush=True)


def error(line: str) -> None:
    print(f"charrnn: error: {line}", file=sys.stderr, flush=True)


def train_headless(
    trainer: Trainer,
    settings: RunSettings,
    run_dir: Path | None,
    log_every: int,
    source: tuple[str, str | None] = ("corpus", None),
) -> int:
    """Train until --iters or Ctrl-C, then save; `source` (corpus as named, preset) goes in
    run.json. Only a clean stop or Ctrl-C saves: after a crash or a divergence the files
    already there are worth more than the model in memory."""
    rundir = RunDir(run_dir).create() if run_dir else None
    policy = RunPolicy(rundir, settings, say)
    policy.begin(trainer, *source, detached=False)
    status = 0
    try:
        print(
            f"data has {trainer.corpus.length} characters, {len(trainer.vocab)} unique.", flush=True
        )
        note = validation_note(trainer)
        if note:
            print(note, flush=True)
        diverged = train_loop(trainer, settings, policy, log_every)
    except KeyboardInterrupt:
        print(f"\ninterrupted at iteration {trainer.iteration}", file=sys.stderr)
        diverged, status = False, 130
    except BrokenPipeError:  # `... --headless | head`: stop as Ctrl-C would, and save
        silence_stdout()
        print(f"charrnn: stdout closed at iteration {trainer.iteration}", file=sys.stderr)
        diverged, status = False, STDOUT_CLOSED
    except Exception as exc:  # a crash: one line, and nothing saved over the user's files
        error(policy.crashed(trainer, exc).error)
        return 1
    policy.flush_records()
    if diverged:
        policy.end(trainer, "stopped", "diverged")
        return 1
    report = policy.exit_save(trainer)
    for path in report.saved:
        print(f"saved iteration {report.iteration} to {path}", file=sys.stderr)
    if report.errors:
        error(report.error)
        status = status or 1
    policy.end(trainer, "stopped" if status else "finished", report.error)
    return status


def train_loop(trainer: Trainer, settings: RunSettings, policy: RunPolicy, log_every: int) -> bool:
    """min-char-rnn's loop: sample, step, log, until --iters (False) or divergence (True)."""
    while settings.stop_at is None or trainer.iteration < settings.stop_at:
        n = trainer.iteration
        if policy.sample_due(trainer):
            sample = policy.sample(trainer, settings.temperature)
            if sample is not None:
                print(f"----\n {shown(sample.text)} \n----", flush=True)
        with quiet_overflow():
            result = trainer.step()
        if trainer.diverged:
            error(
                f"training diverged at iteration {n} (loss is {result.loss}); nothing saved; "
                "try a lower learning rate"
            )
            return True
        if n % log_every == 0:
            print(f"iter {n}, loss: {result.smooth_loss:f}", flush=True)
        if result.val_loss is not None:
            print(validation_line(result), flush=True)
        policy.after_step(trainer, result)
        if result.val_loss is not None or n % settings.metrics_every == 0:
            policy.flush_records()
            policy.note(trainer)
    return False


def validation_line(result: StepResult) -> str:
    val = result.val_loss or math.nan
    best = " (best)" if result.val_best else ""
    return (
        f"iter {result.iteration}, val loss: {val:.4f} nats/char ({val / math.log(2):.4f} bits)"
        f"{best}"
    )
