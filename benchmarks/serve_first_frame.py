"""How soon `charrnn serve` shows the console in a browser, and what a reopened tab shows.

A detached run on a tiny corpus is served on a free loopback port. Each repeat opens a new tab
in headless chromium (tests/browser_support.py: Debian's /usr/bin/chromium, Playwright) and
times, from the start of page loading, the page's first terminal byte (textual-serve's
`-first-byte`) and the console's status line drawn with the run's corpus (the first frame that
shows the run). The reference, measured in the same run, is the same status line reached over
a bare websocket (tests/serve_support.py's Tab: no browser, no page scripts): most of the time
is the `charrnn attach` process textual-serve starts per tab. Between repeats the tab is
closed for --closed seconds; the iteration its status line last showed and the one the next
tab shows first are recorded. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser_support import chromium, iterations_drawn, wait_drawn
from run_support import start_detached, stop_run, wait_until
from serve_support import Served, Tab

CORPUS = "blog_sample"  # what the status line shows once the run has welcomed the viewer


async def bare_websocket_seconds(url: str) -> float:
    started = time.monotonic()
    tab = await Tab.open(url)
    await tab.read_until(CORPUS)
    elapsed = time.monotonic() - started
    await tab.close()
    return elapsed


def browser_repeats(server: Served, profile: Path, repeats: int, closed: float) -> list[dict]:
    rows = []
    with chromium(profile) as browser:
        last_seen = None
        for _ in range(repeats):
            page = browser.new_page()
            started = time.monotonic()
            page.goto(server.url)
            page.wait_for_selector("body.-first-byte", timeout=60_000)
            first_byte = time.monotonic() - started
            wait_drawn(page, CORPUS)
            drawn = time.monotonic() - started
            shown_first = max(iterations_drawn(page))  # its first frames
            rows.append({"first_byte_s": round(first_byte, 3), "console_drawn_s": round(drawn, 3),
                         "iteration_shown_after_reopen": shown_first,
                         "iteration_shown_before_close": last_seen})  # fmt: skip
            time.sleep(1.0)  # let the status line move on before the tab closes
            last_seen = max(iterations_drawn(page))
            page.close()
            wait_until(lambda: not server.viewers(), "the tab's viewer to end")
            time.sleep(closed)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--closed", type=float, default=3.0, help="seconds a tab stays closed")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run_dir = start_detached(work)
        server = Served(work, "run")
        try:
            bare = [asyncio.run(bare_websocket_seconds(server.url)) for _ in range(options.repeats)]
            wait_until(lambda: not server.viewers(), "the bare tab's viewer to end")
            rows = browser_repeats(server, work / "profile", options.repeats, options.closed)
        finally:
            server.close()
            stop_run(run_dir)
    drawn = statistics.median(r["console_drawn_s"] for r in rows)
    print(json.dumps({
        "browser_console_drawn_s_median": round(drawn, 3),
        "browser_first_byte_s_median": round(statistics.median(r["first_byte_s"] for r in rows), 3),
        "bare_websocket_console_drawn_s_median": round(statistics.median(bare), 3),
        "browser_over_bare_websocket": round(drawn / statistics.median(bare), 2),
        "tabs": rows,
        "closed_s": options.closed,
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
