"""The skip rule for end-to-end tests: a missing program skips, unless CI requires it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from system_programs import REQUIRE_E2E, module, program


@pytest.fixture
def bare_path(tmp_path, monkeypatch):
    """A PATH with nothing on it, as on a machine without the program."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_a_missing_program_skips_with_its_package_named(bare_path, monkeypatch):
    monkeypatch.delenv(REQUIRE_E2E, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"tmux not installed \(apt-get install tmux\)"):
        program("tmux", "tmux")


def test_a_missing_program_fails_when_ci_requires_it(bare_path, monkeypatch):
    monkeypatch.setenv(REQUIRE_E2E, "1")
    with pytest.raises(pytest.fail.Exception, match=r"chromium not installed .*required"):
        program("chromium", "chromium")


def test_a_missing_module_follows_the_same_rule(monkeypatch):
    monkeypatch.setenv(REQUIRE_E2E, "1")
    with pytest.raises(pytest.fail.Exception, match=r"no_such_module_here not installed"):
        module("no_such_module_here", "pip install it")
    monkeypatch.delenv(REQUIRE_E2E)
    with pytest.raises(pytest.skip.Exception):
        module("no_such_module_here", "pip install it")


def test_pytest_reports_the_skip_and_the_required_failure(tmp_path):
    """The whole rule as pytest runs it: the summary counts a skip, or a failure under CI."""
    test_file = tmp_path / "test_needs_tmux.py"
    test_file.write_text(
        textwrap.dedent(
            """
            from system_programs import program

            def test_needs_tmux():
                program("tmux", "tmux")
            """
        )
    )
    tests_dir = str(Path(__file__).parent)
    empty = tmp_path / "bin"
    empty.mkdir()
    base = {"PATH": str(empty), "PYTHONPATH": tests_dir}

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(test_file)],
            capture_output=True, text=True, env=base | env, cwd=tmp_path, timeout=60,
        )  # fmt: skip

    skipped = run()
    assert skipped.returncode == 0, skipped.stdout
    assert "1 skipped" in skipped.stdout
    assert "tmux not installed (apt-get install tmux)" in skipped.stdout
    failed = run(**{REQUIRE_E2E: "1"})
    assert failed.returncode == 1, failed.stdout
    assert "1 failed" in failed.stdout
