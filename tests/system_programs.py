"""The rule for tests that need a program of the system (tmux, sshd, chromium) or torch.

On a machine with only Python, pip and git such a test is skipped, with a reason naming what
is missing and how to install it, so a newcomer's first `pytest` is green. CI installs
everything (`.ci/run`) and sets CHARRNN_REQUIRE_E2E=1, which turns each of these skips into
a failure: there, a missing program means the end-to-end tests did not run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

REQUIRE_E2E = "CHARRNN_REQUIRE_E2E"
# Debian keeps daemons in sbin, which an ordinary user's PATH often leaves out.
SBIN = os.pathsep.join(("/usr/sbin", "/sbin"))


def unavailable(reason: str) -> None:
    """Skip the calling test with `reason`, or fail it when CHARRNN_REQUIRE_E2E=1."""
    if os.environ.get(REQUIRE_E2E) == "1":
        pytest.fail(f"{reason} [{REQUIRE_E2E}=1: required]", pytrace=False)
    pytest.skip(reason)


def program(name: str, package: str, *, sbin: bool = False) -> str:
    """The path of program `name` on PATH (and in sbin for a daemon), or a skip that names
    the Debian package to install."""
    found = shutil.which(name) or (shutil.which(name, path=SBIN) if sbin else None)
    if found is None:
        unavailable(f"{name} not installed (apt-get install {package})")
    assert found is not None
    return found


def module(name: str, install: str) -> None:
    """Skip (or fail, as above) unless Python module `name` can be imported."""
    if importlib.util.find_spec(name) is None:
        unavailable(f"{name} not installed ({install})")
