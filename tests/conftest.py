"""Shared fixtures: small corpora and tiny models so tests take seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import corpora
from engine.config import Config, preset
from engine.trainer import Trainer

sys.path.insert(0, str(Path(__file__).parent))  # for minchar_reference

from cell_support import registry_kept
from system_programs import program


@pytest.fixture
def registry():
    """The cell registry as it was, after the test (see cell_support.registry_kept)."""
    with registry_kept():
        yield


@pytest.fixture
def blog_text() -> str:
    return corpora.load("blog_sample")[1]


@pytest.fixture
def tiny_config() -> Config:
    return preset("classic").replace(hidden=16, seq_length=8)


@pytest.fixture
def tiny_trainer(tiny_config: Config, blog_text: str) -> Trainer:
    return Trainer(tiny_config, blog_text, seed=3, corpus_name="blog_sample")


@pytest.fixture
def tmux(tmp_path):
    """A private tmux server (its own socket), killed afterwards."""
    program("tmux", "tmux")
    socket = f"charrnn-e2e-{os.getpid()}-{tmp_path.name}"

    def run(*args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10
        )
        return done.stdout

    yield run
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def detached(tmp_path):
    """A detached run on the tiny corpus in tmp_path/run, stopped afterwards."""
    from run_support import start_detached, stop_run

    run_dir = start_detached(tmp_path)
    yield run_dir
    stop_run(run_dir)
