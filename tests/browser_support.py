"""A real headless browser for tests: Debian's chromium driven by Playwright's Python package.

Playwright's driver ships inside its wheel; the browser is the system's /usr/bin/chromium
(`playwright install` downloads browsers and is never run). The browser reaches loopback only:
other hosts do not resolve, and any request elsewhere (textual-serve's page links a web font)
is aborted before it leaves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Page, Route, sync_playwright
from system_programs import program

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
VIEWPORT = {"width": 1000, "height": 640}

# Before the page's own scripts: keep the terminal output the page receives, as text, so a
# test can wait for what the console drew (xterm.js paints on a canvas, not in the DOM).
TAP_SCREEN = r"""
(() => {
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  window.__screen = "";
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (typeof event.data !== "string") {
          window.__screen += decoder.decode(event.data, { stream: true });
        }
      });
    }
  };
})();
"""
SCREEN_TEXT = r"window.__screen.replace(/\x1b\[[0-?]*[ -\/]*[@-~]/g, '')"
# The terminal's text layer has painted something other than the empty background.
PAINTED = r"""
() => {
  const canvas = document.querySelector("canvas.xterm-text-layer");
  if (!canvas) return false;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
  return false;
}
"""
ITERATION = re.compile(r"iter ([\d,]+)")


def _loopback_only(route: Route) -> None:
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        route.abort()


@contextmanager
def chromium(profile: Path) -> Iterator[BrowserContext]:
    """Headless chromium with a fresh profile in `profile`, closed afterwards."""
    browser = program("chromium", "chromium")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=browser, headless=True, args=ARGS,
            viewport=VIEWPORT,
        )  # fmt: skip
        try:
            context.route("**/*", _loopback_only)
            context.add_init_script(TAP_SCREEN)
            yield context
        finally:
            context.close()


def open_console(context: BrowserContext, url: str, drawn: str, timeout: float = 60) -> Page:
    """A new tab on `url`, returned once the console has drawn `drawn` and painted it."""
    page = context.new_page()
    page.goto(url)
    wait_drawn(page, drawn, timeout)
    return page


def wait_drawn(page: Page, drawn: str, timeout: float = 60) -> None:
    page.wait_for_function(f"{SCREEN_TEXT}.includes({drawn!r})", timeout=timeout * 1000)
    page.wait_for_function(PAINTED, timeout=timeout * 1000)


def screen_text(page: Page) -> str:
    return page.evaluate(SCREEN_TEXT)


def iterations_drawn(page: Page) -> list[int]:
    """Every iteration the status line has shown in this tab, in order."""
    return [int(n.replace(",", "")) for n in ITERATION.findall(screen_text(page))]
