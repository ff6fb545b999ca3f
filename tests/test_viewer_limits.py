"""A detached run's viewers cannot hurt it: a bad command is answered and changes nothing, an
oversized sample is refused, and however many viewers connect and stall, the run's memory stays
within what its limits allow."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from console_support import SIZE, make_app, press, tiny_trainer, wait_for
from run_support import TINY_FLAGS, Viewer, charrnn, run_pid, stop_run

import corpora
from engine.inspect import take_snapshot
from engine.limits import MAX_PRIME_LENGTH, MAX_SAMPLE_LENGTH
from engine.snapshot_file import write_snapshot
from tui.app import ConsoleApp
from tui.cli.attach import leaving_line
from tui.links import SessionEvent, SocketLink
from tui.runs.protocol import (
    MAX_LINE_BYTES,
    Notice,
    Pause,
    PausedChanged,
    Sample,
    SampleReady,
    SetTemperature,
    SnapshotReady,
    TemperatureChanged,
    Welcome,
    decode,
)
from tui.runs.rundir import RunDir
from tui.runs.server import MAX_BACKLOG, MAX_VIEWERS
from tui.screens.inspect import InspectScreen

STALLED = 50  # the count


def is_error(event: object) -> bool:
    return isinstance(event, Notice) and event.severity == "error"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"v": 1, "type": "SetTemperature", "value": NaN}\n', "must be a finite number"),
        (b'{"v": 1, "type": "SetTemperature", "value": -1}\n', "must be above 0"),
        (b'{"v": 1, "type": "Sample", "length": 1100000}\n', "must be from 0 to 10,000"),
        (b'{"v": 1, "type": "TemperatureChanged", "value": 2}\n', "is not a command"),
        (b"garbage\n", "not JSON"),
    ],
    ids=["nan", "negative", "huge-sample", "not-a-command", "garbage"],
)
def test_a_bad_command_is_answered_to_its_sender_and_changes_nothing(detached, raw, says):
    sender, other = Viewer(detached), Viewer(detached)
    assert isinstance(sender.next_event(), Welcome) and isinstance(other.next_event(), Welcome)
    sender.send_raw(raw)
    refused = sender.wait_for(is_error)
    assert refused.text.startswith("command refused:") and says in refused.text
    # The connection stays, and the run obeys the next good command, at its old temperature.
    sender.send(Sample(20))
    sample = sender.wait_for(lambda e: isinstance(e, SampleReady) and e.requested)
    assert sample.temperature == 1.0 and len(sample.text) == 20
    sender.send(SetTemperature(0.5))
    assert sender.wait_for(lambda e: isinstance(e, TemperatureChanged)).value == 0.5
    seen = other.wait_for(lambda e: isinstance(e, TemperatureChanged | Notice))
    assert isinstance(seen, TemperatureChanged)  # the refusal went to its sender alone
    sender.close()
    other.close()


def rss_bytes(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def first_event(sock: socket.socket) -> object:
    reader = sock.makefile("rb")  # reads ahead a little: the rest stays unread in the kernel
    return decode(reader.readline())


def start_on_kaze(tmp_path: Path) -> RunDir:
    """A detached run on the Japanese corpus: each of its characters costs 6 bytes of JSON."""
    done = charrnn("train", "kaze", "--detach", "--run-dir", "run", *TINY_FLAGS,
                   "--sample-every", "0", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return RunDir(tmp_path / "run")


def connect_stalled(run_dir: RunDir, count: int) -> list[tuple[socket.socket, object]]:
    """`count` viewers that read their first line, then never read again."""
    stalled = []
    for _ in range(count):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(20)
        sock.connect(str(run_dir.socket))
        stalled.append((sock, first_event(sock)))
    return stalled


def test_stalled_viewers_cost_the_run_a_bounded_amount_of_memory(tmp_path):
    """The issue's case: 50 viewers that never read, while samples are requested, grew a run
    from 82 to 319 MB. Now at most MAX_VIEWERS are served (the rest get one line and are
    closed), each queueing at most MAX_BACKLOG before it is dropped, and a dropped viewer's
    queue is freed at once: a second wave of stalled viewers costs nothing more."""
    run_dir = start_on_kaze(tmp_path)
    try:
        pid = run_pid(run_dir)
        active = Viewer(run_dir)
        assert isinstance(active.next_event(), Welcome)
        prime = corpora.load("kaze")[1][:MAX_PRIME_LENGTH]

        def longest_sample() -> int:
            active.send(Sample(MAX_SAMPLE_LENGTH, prime))
            sample = active.wait_for(lambda e: isinstance(e, SampleReady) and e.requested)
            return len(sample.text.encode("ascii", "backslashreplace"))

        per_sample = longest_sample()  # warm: the sampler's buffers are in the baseline
        before = rss_bytes(pid)
        bound = MAX_VIEWERS * (MAX_BACKLOG + MAX_LINE_BYTES)
        opened: list[socket.socket] = []
        for _wave in range(2):
            stalled = connect_stalled(run_dir, STALLED)
            opened += [sock for sock, _ in stalled]
            served = [s for s, first in stalled if isinstance(first, Welcome)]
            assert len(served) == MAX_VIEWERS - 1  # the active viewer is the other one
            for sock, first in stalled:
                if sock not in served:
                    assert is_error(first) and f"already has {MAX_VIEWERS} viewers" in first.text
                    assert sock.recv(1) == b""  # one line, then closed
            # Enough events to fill each stalled viewer's queue and socket buffer a few times.
            for _ in range(3 * MAX_BACKLOG // per_sample + 1):
                longest_sample()
            grown = rss_bytes(pid) - before
            assert grown <= bound, f"{grown / 2**20:.1f} MiB grown; {bound / 2**20:.0f} allowed"
        active.send(Pause())  # and the run still answers
        assert active.wait_for(lambda e: isinstance(e, PausedChanged)).paused
        active.close()
        for sock in opened:
            sock.close()
    finally:
        stop_run(run_dir)


async def test_the_console_says_why_a_full_run_turned_it_away(detached):
    viewers = [Viewer(detached) for _ in range(MAX_VIEWERS)]
    for viewer in viewers:
        assert isinstance(viewer.next_event(), Welcome)
    app = ConsoleApp(SocketLink(detached.socket), detached)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.outcome == "refused")
    assert f"this run already has {MAX_VIEWERS} viewers" in app.outcome_reason
    # Said as a refusal, not as a run that went away (the issue: "no longer reachable").
    line, status = leaving_line(app, detached, None)
    assert line.startswith("the run turned this viewer away: this run already has 8 viewers")
    assert status == 1
    for viewer in viewers:
        viewer.close()


async def test_the_console_skips_a_snapshot_event_with_malformed_statistics(tmp_path):
    """A SnapshotReady's statistics are free-form JSON to the protocol; the console reads
    them, and one it cannot read is skipped like any malformed event, never a crash."""
    app = make_app(tmp_path / "run", start_paused=True)
    path = write_snapshot(take_snapshot(tiny_trainer()), tmp_path / "inspect.npz")
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "i")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectScreen))
        app.post_message(SessionEvent(SnapshotReady(str(path), 0, {"params": "nonsense"})))
        await pilot.pause(0.2)
        assert isinstance(app.screen, InspectScreen) and app.screen.stats is None
        await press(pilot, "full_stop")  # a real step still shows
        await wait_for(pilot, lambda: app.screen.stats is not None)
