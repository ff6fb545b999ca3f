"""End to end over real SSH: a loopback sshd with a throw-away key, `ssh -t` inside tmux.

Start a detached run and attach to it over SSH, kill the SSH client as a dropped connection
would, and check that training went on and that a new `ssh -t ... charrnn attach` shows a
later iteration. Without sshd, the ssh client or tmux the test is skipped (tests/system_programs.py); if
sshd is there but cannot start, the test fails with sshd's own reason.
"""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from run_support import TINY_FLAGS, stop_run
from system_programs import program, unavailable
from tmux_support import CHARRNN, find_pid, start, wait_iteration, wait_screen, wait_until

from tui.runs.rundir import RunDir
from tui.runs.status import read_status

PRIVSEP = Path("/run/sshd")  # sshd refuses to start without its privilege-separation directory


def privsep_directory() -> None:
    """Make sshd's /run/sshd where we may (root); an ordinary user cannot, so unless it is
    there already the test is skipped with the command that makes it."""
    if PRIVSEP.is_dir():
        return
    try:
        PRIVSEP.mkdir(mode=0o755)
    except OSError:
        unavailable(f"sshd needs {PRIVSEP}, which only root can make (sudo mkdir -p {PRIVSEP})")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def sshd(tmp_path):
    """A loopback sshd that accepts one throw-away key; yields the ssh command to reach it."""
    daemon = program("sshd", "openssh-server", sbin=True)
    for client in ("ssh", "ssh-keygen"):
        program(client, "openssh-client")
    privsep_directory()
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    for name in ("host", "user"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True
        )
    shutil.copy(keys / "user.pub", keys / "authorized_keys")
    port = free_port()
    config = keys / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {keys / 'host'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "PermitRootLogin prohibit-password\n"
        f"PidFile {keys / 'sshd.pid'}\nAcceptEnv TERM\n"
    )
    log = keys / "sshd.log"
    server = subprocess.Popen([daemon, "-D", "-e", "-f", str(config)], stderr=log.open("w"))
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"sshd did not start: {log.read_text().strip()}")
        time.sleep(0.05)
    ssh = [
        "ssh", "-t", "-i", str(keys / "user"), "-p", str(port),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", f"{getpass.getuser()}@127.0.0.1",
    ]  # fmt: skip
    yield ssh
    server.terminate()
    server.wait(10)


def ssh_command(ssh: list[str], tmp_path: Path, remote: str) -> str:
    line = f"cd {shlex.quote(str(tmp_path))} && TERM=xterm-256color {remote}"
    return " ".join(shlex.quote(a) for a in [*ssh, line])


def client_pid(marker: str) -> int:
    """The local ssh client whose command line carries `marker`."""
    return find_pid(
        lambda argv: argv[0] == b"ssh" and any(marker.encode() in a for a in argv), "ssh client"
    )


def test_training_survives_a_killed_ssh_client(sshd, tmux, tmp_path):
    charrnn = shlex.quote(str(CHARRNN))
    flags = " ".join(TINY_FLAGS)
    remote = f"{charrnn} train blog_sample --detach --run-dir run {flags} && {charrnn} attach run"
    start(tmux, tmp_path, "", command=ssh_command(sshd, tmp_path, remote))
    run_dir = RunDir(tmp_path / "run")
    try:
        wait_screen(tmux, "rnn 8", timeout=60)  # the console, drawn over SSH
        before = wait_iteration(tmux, 100, timeout=60)
        assert "▶ running" in before
        os.kill(client_pid(str(tmp_path)), signal.SIGKILL)  # the connection drops
        wait_screen(tmux, "EXIT=", timeout=20)
        seen = _status_iteration(run_dir)
        wait_until(lambda: _status_iteration(run_dir) > seen + 200, "training to go on")
        tmux("kill-session", "-t", "e2e")
        start(tmux, tmp_path, "", command=ssh_command(sshd, tmp_path, f"{charrnn} attach run"))
        shown = wait_iteration(tmux, seen + 200, timeout=60)
        assert "rnn 8" in shown and "▶ running" in shown
        tmux("send-keys", "-t", "e2e", "q")
        shown = wait_screen(tmux, "EXIT=0", timeout=20)
        assert "detached: training goes on" in shown.replace("\n", "")
    finally:
        stop_run(run_dir)


def _status_iteration(run_dir: RunDir) -> int:
    status = read_status(run_dir) or {}
    return int(status.get("iteration", 0))
