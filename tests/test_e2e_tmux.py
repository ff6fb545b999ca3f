"""End to end: the real `charrnn` command in a detached tmux at 80x24, driven by keys."""

from __future__ import annotations

import os
import signal
import subprocess

from tmux_support import (
    CHARRNN,
    alive,
    charrnn_pid,
    start,
    wait_iteration,
    wait_screen,
    wait_until,
)

from engine import checkpoint


def test_console_keys_save_and_quit_in_tmux(tmux, tmp_path):
    run = tmp_path / "run"
    start(tmux, tmp_path, f"train --run-dir {run}")
    wait_screen(tmux, "── iter ")  # samples are arriving
    shown = wait_iteration(tmux, 101)
    assert "▶ running" in shown and "tinyshakespeare" in shown and "rnn 100" in shown

    tmux("send-keys", "-t", "e2e", "space")
    wait_screen(tmux, "⏸ paused")
    tmux("send-keys", "-t", "e2e", "+")
    wait_screen(tmux, "temp 1.1")
    tmux("send-keys", "-t", "e2e", "s")
    wait_screen(tmux, "Save a checkpoint to")
    tmux("send-keys", "-t", "e2e", "Enter")
    shown = wait_screen(tmux, "saved iteration")
    assert f"{run}/model.npz" in shown.replace("\n", "") or "model.npz" in shown
    saved = checkpoint.load(run / "model.npz")

    tmux("send-keys", "-t", "e2e", "q")
    shown = wait_screen(tmux, "EXIT=", timeout=10)
    assert "EXIT=0" in shown
    assert "saved iteration" in shown and "latest.npz" in shown
    latest = checkpoint.load(run / "latest.npz")
    assert latest.iteration == saved.iteration > 100  # paused: nothing trained in between
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) >= 2


def test_sighup_saves_a_resumable_state(tmux, tmp_path):
    run = tmp_path / "run"
    start(tmux, tmp_path, f"train --run-dir {run} --autosave-minutes 0")
    wait_screen(tmux, "─ samples (")  # a sample arrived (its header may scroll away)
    wait_iteration(tmux, 200)
    pid = charrnn_pid(run)
    tmux("kill-session", "-t", "e2e")  # what an SSH drop does: the terminal hangs up
    wait_until(lambda: not alive(pid), "charrnn to exit after SIGHUP", timeout=15)
    state = checkpoint.load(run / "latest.npz")
    assert state.iteration >= 200

    resume = ["--resume", str(run / "latest.npz"), "--headless", "--iters", "3"]
    resumed = subprocess.run(
        [str(CHARRNN), "train", *resume, "--log-every", "1", "--sample-every", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"iter {state.iteration}, loss:" in resumed.stdout


def test_sigterm_saves_too(tmux, tmp_path):
    run = tmp_path / "run"
    start(tmux, tmp_path, f"train blog_sample --run-dir {run}")
    wait_screen(tmux, "─ samples (")  # a sample arrived (its header may scroll away)
    wait_iteration(tmux, 100)
    pid = charrnn_pid(run)
    os.kill(pid, signal.SIGTERM)
    shown = wait_screen(tmux, "EXIT=", timeout=15)
    assert f"EXIT={128 + signal.SIGTERM}" in shown
    assert checkpoint.load(run / "latest.npz").iteration >= 100
