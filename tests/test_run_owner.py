"""One owner per run directory: whatever starts at the same instant, whatever was written into
run.json or put at control.sock, exactly one process trains into a directory, and every other
start gets one line naming the live run's PID, with exit 2."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from races import ROUNDS
from run_support import TINY_FLAGS, alive, charrnn, start_detached, stop_run, wait_until

from engine.errors import CharrnnError
from tui.cli import main
from tui.cli import train as train_command
from tui.cli.train_args import TrainArgs
from tui.runs import lock
from tui.runs.rundir import RunDir
from tui.runs.status import describe_state

# The in-process races below are cheap: at least 20 rounds, more with CHARRNN_RACE_ROUNDS.
RACES = max(20, ROUNDS)


def trainer_pids(run_dir: RunDir) -> list[int]:
    """The PID of every background run that started training in `run_dir` (run.log)."""
    log = run_dir.log.read_text() if run_dir.log.exists() else ""
    return [int(pid) for pid in re.findall(r"^pid (\d+): training", log, re.MULTILINE)]


def stop_all(pids: list[int]) -> None:
    """End every run started (tests must not leave one behind, even a second one)."""
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
    for pid in pids:
        wait_until(lambda pid=pid: not alive(pid), f"pid {pid} to exit")


def refusal(name: str, pid: int) -> list[str]:
    return [f"charrnn: error: {name} already has a live run (pid {pid}); "
            f"attach with: charrnn attach {name}"]  # fmt: skip


def detach(cwd: Path, name: str, *flags: str) -> subprocess.Popen[str]:
    argv = ["train", "blog_sample", "--detach", "--run-dir", name, *TINY_FLAGS, *flags]
    return subprocess.Popen([sys.executable, "-m", "tui.cli", *argv], cwd=cwd, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip


def runs_state(cwd: Path, name: str) -> str:
    """The state column of `name` in `charrnn runs .` ('' if it is not listed)."""
    done = charrnn("runs", ".", cwd=cwd, timeout=30)
    assert done.returncode == 0, done.stderr
    for line in done.stdout.splitlines()[1:]:
        if line.split()[0] == name:
            return line[29:55].strip()
    return ""


def test_two_detaches_at_the_same_instant_start_exactly_one_run(tmp_path):
    for round_ in range(ROUNDS):
        name = f"run{round_}"
        run_dir = RunDir(tmp_path / name)
        both = [detach(tmp_path, name), detach(tmp_path, name)]
        try:
            done = [(p.wait(120), *p.communicate()) for p in both]
        finally:
            owners = trainer_pids(run_dir)
            stop_all(owners)
        assert sorted(code for code, _, _ in done) == [0, 2], done
        assert len(owners) == 1, f"round {round_}: {len(owners)} runs trained in one directory"
        refused = next(err for code, _, err in done if code == 2)
        assert refused.strip().splitlines() == refusal(name, owners[0])


WORKER = """
import json
import sys
from pathlib import Path
from engine.errors import CharrnnError
from tui.cli.ownership import own
from tui.runs.rundir import RunDir
from tui.runs.status import describe_state
held = None
print("ready", flush=True)
for line in sys.stdin:
    command, _, path = line.strip().partition(" ")
    if command == "own":
        try:
            held = own(RunDir(Path(path)))
            print("owner", flush=True)
        except CharrnnError as exc:
            print(f"refused {exc}", flush=True)
    elif command == "release":
        if held is not None:
            held.release()
            held = None
        print("released", flush=True)
    elif command == "probe":  # as `runs` and `attach` judge a run, as fast as it can
        seen = {}
        while not Path(path, "stop").exists():
            state = describe_state(RunDir(Path(path)))[0]
            seen[state] = seen.get(state, 0) + 1
        print("probed " + json.dumps(seen), flush=True)
"""


class Worker:
    """A process that claims run directories when told: its Python is started beforehand, so
    that two claims told at once happen at the same instant."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        assert self.answer() == "ready"

    def tell(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def answer(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:  # a test that failed mid-way: end it all the same
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def workers():
    started: list[Worker] = []
    yield lambda: started.append(Worker()) or started[-1]
    for worker in started:
        worker.close()


def test_claims_at_the_same_instant_leave_exactly_one_owner(tmp_path, workers):
    first, second = workers(), workers()
    for round_ in range(RACES):
        path = tmp_path / f"run{round_}"
        for worker in (first, second):
            worker.tell(f"own {path}")
        answers = {first.proc.pid: first.answer(), second.proc.pid: second.answer()}
        owners = [pid for pid, said in answers.items() if said == "owner"]
        assert len(owners) == 1, f"round {round_}: {answers}"
        (refused,) = [said for said in answers.values() if said != "owner"]
        assert refused == f"refused {path} already has a live run (pid {owners[0]}); " \
                          f"attach with: charrnn attach {path}"  # fmt: skip
        assert lock.probe(RunDir(path).lock) == lock.Holder("held", owners[0])
        for worker in (first, second):
            worker.tell("release")
            assert worker.answer() == "released"
        assert lock.probe(RunDir(path).lock).state == "free"


def test_a_lock_file_made_while_a_claim_looks_names_the_owner_pid(tmp_path, workers, monkeypatch):
    """A claim that found no lock file (so looked for an older charrnn's live run) and then
    met a run that started meanwhile, whose run.json does not exist yet, names its PID from
    the lock, not "it is starting"."""
    from tui.cli import ownership

    path = tmp_path / "run"
    owner = workers()
    owner.tell(f"own {path}")
    assert owner.answer() == "owner"
    monkeypatch.setattr(ownership.os.path, "lexists", lambda _: False)  # it looked too early
    with pytest.raises(CharrnnError) as refused:
        ownership.own(RunDir(path))
    assert f"(pid {owner.proc.pid})" in str(refused.value)


def test_a_probe_never_makes_a_starting_run_fail_to_take_its_lock(tmp_path, workers):
    """`runs` and `attach` probe the lock with a shared lock of their own, released at once;
    a start that meets it retries. Here a probe spins on the directory while it is claimed
    and released 2,000 times: every claim succeeds. (Without the retry, about 2 in 1,000
    bare attempts met a probe's shared lock on this machine.)"""
    path = tmp_path / "run"
    prober, starter = workers(), workers()
    RunDir(path).create()
    prober.tell(f"probe {path}")
    try:
        for round_ in range(100 * RACES):
            starter.tell(f"own {path}")
            assert starter.answer() == "owner", f"round {round_}"
            starter.tell("release")
            assert starter.answer() == "released"
    finally:
        (path / "stop").touch()
    seen = json.loads(prober.answer().removeprefix("probed "))
    assert seen.get("live", 0) > 0 and sum(seen.values()) > RACES  # it really raced them


@pytest.mark.parametrize("how", ["garbage-run-json", "run-json-a-directory", "socket-a-file",
                                 "socket-a-symlink"])  # fmt: skip
def test_tampered_files_leave_a_live_run_live_and_a_new_detach_refused(tmp_path, how):
    run_dir = start_detached(tmp_path)
    (pid,) = trainer_pids(run_dir)
    try:
        planted = tamper(run_dir, how, tmp_path)
        assert runs_state(tmp_path, "run") in ("live", "live (paused)")
        done = charrnn("train", "blog_sample", "--detach", "--run-dir", "run", *TINY_FLAGS,
                       cwd=tmp_path)  # fmt: skip
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == refusal("run", pid)
        assert trainer_pids(run_dir) == [pid] and alive(pid)  # no second run started
        if planted is not None:  # nothing deleted or overwritten
            assert planted(), f"{how}: the planted file was removed or replaced"
    finally:
        stop_all(trainer_pids(run_dir))


def tamper(run_dir: RunDir, how: str, tmp_path: Path):
    """Do `how` to the live run's files; return a check that what was planted is intact."""
    if how == "garbage-run-json":
        run_dir.status_file.write_bytes(b"\x00{garbage")
        return None  # the live run rewrites its run.json within seconds, as it should
    if how == "run-json-a-directory":
        run_dir.status_file.unlink()
        run_dir.status_file.mkdir()
        return run_dir.status_file.is_dir
    run_dir.socket.unlink()
    if how == "socket-a-file":
        run_dir.socket.write_text("planted\n")
        return lambda: run_dir.socket.read_text() == "planted\n"
    run_dir.socket.symlink_to(tmp_path / "elsewhere.sock")
    return lambda: os.readlink(run_dir.socket) == str(tmp_path / "elsewhere.sock")


def test_headless_and_the_console_on_a_live_detached_run_are_refused(detached, tmp_path,
                                                                     monkeypatch):  # fmt: skip
    (pid,) = trainer_pids(detached)
    done = charrnn("train", "blog_sample", "--headless", "--run-dir", "run", "--iters", "5",
                   *TINY_FLAGS, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == refusal("run", pid)
    assert not detached.latest.exists()  # it would have saved there at its --iters

    def console_opened(self) -> None:
        raise AssertionError("the console opened on a directory a live run owns")

    monkeypatch.setattr("tui.app.ConsoleApp.run", console_opened)
    monkeypatch.setattr(train_command, "require_terminal", lambda instead: None)
    args = TrainArgs.parse(["blog_sample", *TINY_FLAGS, "--run-dir", str(detached.path)])
    with pytest.raises(CharrnnError, match=rf"already has a live run \(pid {pid}\)"):
        train_command.train(args)
    assert trainer_pids(detached) == [pid] and alive(pid)


def test_a_live_pid_in_run_json_without_the_lock_is_not_a_live_run(tmp_path):
    """run.json naming a live process that is not the run (pid 1 here) once made `runs` say
    "live (paused)" and refused --detach and --resume for good."""
    run_dir = start_detached(tmp_path)
    stop_run(run_dir)

    def claim_pid_1() -> None:
        status = json.loads(run_dir.status_file.read_text())
        status.update(state="live", pid=1, detached=False, paused=True)
        run_dir.status_file.write_text(json.dumps(status))

    claim_pid_1()
    assert runs_state(tmp_path, "run") == "crashed (process gone)"
    try:
        for flags in ([], ["--resume", "run/latest.npz"]):
            done = charrnn("train", "blog_sample", "--detach", "--run-dir", "run", *TINY_FLAGS,
                           *flags, cwd=tmp_path)  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert runs_state(tmp_path, "run") == "live"
            stop_run(run_dir)
            claim_pid_1()
    finally:
        stop_all(trainer_pids(run_dir))


def test_a_directory_without_a_lock_file_is_judged_as_before(tmp_path):
    """An older charrnn's run directory has no lock file: a live run.json is believed while
    its PID lives (here: this test's own process, as a console run), until the directory's
    next owner takes the lock."""
    run_dir = RunDir(tmp_path / "old").create()
    status = {"pid": os.getpid(), "corpus": "blog_sample", "preset": None, "model": "rnn 8",
              "config": {}, "detached": False, "state": "live", "started": 0.0}  # fmt: skip
    run_dir.status_file.write_text(json.dumps(status))
    assert describe_state(run_dir) == ("live", "in a console")
    done = charrnn("train", "blog_sample", "--headless", "--run-dir", "old", "--iters", "3",
                   *TINY_FLAGS, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == refusal("old", os.getpid())
    status["pid"] = 2**22 + 1  # above Linux's largest PID: no process has it
    run_dir.status_file.write_text(json.dumps(status))
    assert describe_state(run_dir) == ("crashed", "process gone")
    done = charrnn("train", "blog_sample", "--headless", "--run-dir", "old", "--iters", "3",
                   *TINY_FLAGS, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert run_dir.lock.exists()  # from now on, the lock says
    assert describe_state(run_dir) == ("finished", "")


def test_where_the_filesystem_has_no_locks_the_run_says_so_in_one_line(tmp_path, monkeypatch,
                                                                       capsys):  # fmt: skip
    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    run_dir = RunDir(tmp_path / "run")
    assert main(["train", "blog_sample", "--headless", "--run-dir", str(run_dir.path),
                 "--iters", "3", *TINY_FLAGS]) == 0  # fmt: skip
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == [f"charrnn: warning: {run_dir.path}: no file locks on this filesystem "
                        f"({os.strerror(errno.ENOLCK)}); nothing stops a second run from "
                        "writing this directory"]  # fmt: skip
    assert lock.probe(run_dir.lock).state == "unsupported"
    assert describe_state(run_dir) == ("finished", "")  # judged by run.json, as before
