"""What each `charrnn` command does, once its arguments have been parsed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import corpora
from engine import checkpoint
from engine import gradcheck as grad
from engine.config import preset
from engine.sampling import SampleSettings, sample_text
from engine.trainer import Trainer
from tui import hparams


def build_trainer(args: argparse.Namespace) -> Trainer:
    """A fresh or resumed Trainer for `charrnn train`'s arguments."""
    name, text = corpora.load(args.corpus)
    changes = hparams.overrides(args)
    if args.resume:
        ckpt = checkpoint.load(args.resume)
        config = hparams.resumed_config(ckpt.config, changes, args.resume)
        trainer = checkpoint.restore(ckpt, text, name)
        trainer.config = config  # only schedule fields differ; the trainer reads them per step
    else:
        config = hparams.fresh_config(preset(args.preset), changes)
        trainer = Trainer(config, text, seed=args.seed, corpus_name=name)
    if args.sample_every is not None:
        trainer.config = trainer.config.replace(sample_every=args.sample_every)
    return trainer


def train(args: argparse.Namespace) -> int:
    if args.save:
        checkpoint.check_writable(Path(args.save))
    trainer = build_trainer(args)
    if args.headless:
        from tui.headless import train_headless

        return train_headless(trainer, args)
    from tui.app import run_console

    return run_console(trainer, args)


def sample(args: argparse.Namespace) -> int:
    ckpt = checkpoint.load(args.checkpoint)
    model, params = checkpoint.load_model(ckpt)
    settings = SampleSettings(
        length=args.length, temperature=args.temperature, top_k=args.top_k, greedy=args.greedy
    )
    rng = np.random.default_rng(args.seed)
    state = None if args.zero_state else checkpoint.sampling_state(ckpt, model)
    text = sample_text(model, params, ckpt.vocab, settings, rng, prime=args.prime, state=state)
    sys.stdout.write(text + "\n")
    return 0


def gradcheck(args: argparse.Namespace) -> int:
    config = preset("classic").replace(
        cell=args.cell,
        layers=args.layers,
        embedding=args.embedding,
        dropout=args.dropout,
        hidden=8,
        seq_length=6,
    )
    results = grad.check(config)
    width = max(len(r.name) for r in results)
    for r in results:
        verdict = "ok" if r.ok else "FAIL"
        shape = "x".join(map(str, r.shape))
        print(f"{r.name:<{width}}  {shape:>7}  relative error {r.rel_error:.2e}  {verdict}")
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"gradient check failed for: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all {len(results)} parameters agree (tolerance {grad.TOLERANCE:g})")
    return 0


def list_corpora(args: argparse.Namespace) -> int:
    print(f"{'name':<16} {'bytes':>10} {'chars':>10} {'unique':>7}  description")
    for name, (_, description) in corpora.BUNDLED.items():
        path = corpora.bundled_path(name)
        text = path.read_text(encoding="utf-8")
        size = path.stat().st_size
        print(f"{name:<16} {size:>10,} {len(text):>10,} {len(set(text)):>7}  {description}")
    return 0
