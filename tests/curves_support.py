"""Helpers for the curves and compare tests: run directories written by the test, and the
text on screen."""

from __future__ import annotations

import html
import json
import math
import re
from collections import defaultdict
from pathlib import Path

from engine.config import Config, preset
from tui.runs.rundir import RunDir
from tui.runs.status import RunStatus

SPAN = re.compile(
    r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="([\d.]+)" '
    r'clip-path="url\(#[^)]*-line-(\d+)\)">([^<]*)</text>'
)


def screen_text(app) -> str:
    """What the terminal shows, as plain lines (from Textual's SVG screenshot, which leaves
    runs of blank cells out: each piece of text goes back to its column)."""
    rows: dict[int, list[str]] = defaultdict(list)
    for match in SPAN.finditer(app.export_screenshot()):
        text = html.unescape(match[4]).replace("\xa0", " ")
        cell = float(match[2]) / len(text)
        column = round(float(match[1]) / cell)
        row = rows[int(match[3])]
        row.extend(" " * (column + len(text) - len(row)))
        row[column : column + len(text)] = text
    return "\n".join("".join(rows[i]).rstrip() for i in sorted(rows))


def curve(n: int, floor: float, rate: float) -> float:
    """A made-up loss curve: from ln(65) down towards `floor`."""
    return floor + (math.log(65) - floor) * math.exp(-n / rate)


def metrics_lines(last: int, floor: float, rate: float, *, every: int = 100, val_every: int = 500):
    """metrics.jsonl lines as the console writes them, for iterations 0..last."""
    for n in range(0, last + 1, every):
        yield json.dumps(
            {
                "iteration": n,
                "loss": round(curve(n, floor, rate), 6),
                "chars_per_s": 1000.0,
                "time": n / 50,
                "wall": 1.7e9 + n / 50,
            }
        )
        if n % val_every == 0:
            yield json.dumps({"iteration": n, "val_loss": round(curve(n, floor + 0.1, rate), 6)})


def write_run(
    root: Path,
    name: str,
    preset_name: str,
    *,
    last: int = 3000,
    floor: float = 1.5,
    rate: float = 600.0,
    extra: list[str] | None = None,
) -> Path:
    """A run directory with run.json and a metrics.jsonl (plus any `extra` raw lines)."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    describe_run(run_dir, preset_name, preset(preset_name))
    lines = list(metrics_lines(last, floor, rate)) + (extra or [])
    (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run_dir


async def wait_for(pilot, predicate, timeout: float = 5.0) -> None:
    """Let the app run until `predicate()` holds; fail clearly after `timeout` seconds."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


def describe_run(run_dir: Path, preset_name: str | None, config: Config) -> None:
    """run.json as a finished run leaves it: what compare's legend reads."""
    RunStatus(
        pid=1, corpus="tinyshakespeare", preset=preset_name, model="", config=config.to_dict(),
        detached=False, state="finished",
    ).write(RunDir(run_dir))  # fmt: skip
