"""End to end in a real browser: `charrnn serve` seen by headless chromium.

A detached run on a tiny corpus, served on a free loopback port; chromium opens the page,
waits for the console to draw, takes a screenshot (a test artefact under tmp_path), then a
closed and reopened tab shows a later iteration, and space pressed in the page pauses the run
(checked through the run's own events, not the screen). Without chromium the test fails and
says why.
"""

from __future__ import annotations

import pytest
from browser_support import chromium, iterations_drawn, open_console
from run_support import Viewer, start_detached, stop_run, wait_until
from serve_support import Served

from tui.runs.protocol import PausedChanged, Progress, Welcome
from tui.runs.status import describe_state


@pytest.fixture
def served(tmp_path):
    run_dir = start_detached(tmp_path)
    server = Served(tmp_path, "run")
    yield server, run_dir
    server.close()
    stop_run(run_dir)


def test_the_console_in_chromium_draws_reopens_later_and_pauses_on_space(served, tmp_path):
    server, run_dir = served
    watcher = Viewer(run_dir)
    assert isinstance(watcher.next_event(), Welcome)
    with chromium(tmp_path / "profile") as browser:
        page = open_console(browser, server.url, drawn="blog_sample")
        shot = tmp_path / "browser.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000  # a drawn console, not a blank page
        print(f"screenshot: {shot}")
        seen = max(iterations_drawn(page))
        page.close()  # the tab goes: its viewer detaches, the run trains on
        wait_until(lambda: not server.viewers(), "the closed tab's viewer to end")
        assert describe_state(run_dir) == ("live", "")
        watcher.wait_for(lambda e: isinstance(e, Progress) and e.iteration > seen + 100)

        page = open_console(browser, server.url, drawn="blog_sample")
        wait_until(lambda: max(iterations_drawn(page)) > seen, "a later iteration in a new tab")
        page.focus("textarea.xterm-helper-textarea")  # where xterm.js takes the keyboard
        page.keyboard.press("Space")
        paused = watcher.wait_for(lambda e: isinstance(e, PausedChanged) and e.paused)
        assert paused.iteration > seen
    watcher.close()
