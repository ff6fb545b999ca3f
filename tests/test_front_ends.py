"""One step loop for every front end: the headless log and the console train alike."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

from console_support import SIZE, press, wait_for

from tui.app import ConsoleApp
from tui.cli import main
from tui.cli import train as train_command
from tui.cli.train_args import TrainArgs

ROOT = Path(__file__).parent.parent
FLAGS = ["blog_sample", "--hidden", "12", "--seq-length", "10", "--sample-every", "50",
         "--val-fraction", "0.2", "--eval-every", "40", "--iters", "300"]  # fmt: skip


def records(run_dir: Path) -> list[tuple[int, str, float]]:
    """(iteration, kind, loss) of every metrics.jsonl record: what the curves are drawn from."""
    found = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        kind = "val_loss" if "val_loss" in record else "loss"
        found.append((record["iteration"], kind, record[kind]))
    return found


def samples(run_dir: Path) -> list[tuple[int, str]]:
    lines = (run_dir / "samples.jsonl").read_text().splitlines()
    return [(r["iteration"], r["text"]) for r in map(json.loads, lines)]


def test_headless_and_the_console_record_the_same_losses_and_samples(tmp_path, monkeypatch):
    # A metrics record after every iteration (100 is the default): every step's loss compared.
    settings = train_command.run_settings
    monkeypatch.setattr(
        train_command,
        "run_settings",
        lambda args, path: dataclasses.replace(settings(args, path), metrics_every=1),
    )
    assert main(["train", *FLAGS, "--headless", "--run-dir", str(tmp_path / "headless")]) == 0

    async def quit_when_paused_at_iters(pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.run_state == "paused", timeout=60)
        await press(pilot, "q")

    def run_headless(self: ConsoleApp):
        return super(ConsoleApp, self).run(
            headless=True, size=SIZE, auto_pilot=quit_when_paused_at_iters
        )

    monkeypatch.setattr(ConsoleApp, "run", run_headless)
    monkeypatch.setattr(train_command, "require_terminal", lambda instead: None)
    args = TrainArgs.parse([*FLAGS, "--run-dir", str(tmp_path / "console")])
    assert train_command.train(args) == 0
    console = records(tmp_path / "console")
    assert [n for n, kind, _ in console if kind == "loss"] == list(range(300))
    assert [n for n, kind, _ in console if kind == "val_loss"] == list(range(0, 300, 40))
    assert console == records(tmp_path / "headless")
    # Both stop at --iters before that iteration's sample.
    assert [n for n, _ in samples(tmp_path / "console")] == list(range(0, 300, 50))
    assert samples(tmp_path / "console") == samples(tmp_path / "headless")


def trainer_steps(path: Path) -> bool:
    """Whether the module at `path` calls `<...>trainer.step()` or `.train(n)` itself."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if node.func.attr in ("step", "train") and name.endswith("trainer"):
                return True
    return False


def test_only_the_session_steps_a_trainer():
    stepping = {str(p.relative_to(ROOT)) for p in (ROOT / "tui").rglob("*.py") if trainer_steps(p)}
    assert stepping == {"tui/runs/session.py"}
