"""Who hears a session: every subscriber it was given, the link and the server included.
Nothing reassigns a session's post target from outside."""

from __future__ import annotations

from typing import get_args

from console_support import make_session

from tui.links import InProcessLink, SessionEvent
from tui.runs.protocol import MESSAGE_TYPES, Command, Event, Notice, Saved, Stop, Welcome
from tui.runs.server import RunServer


class RecordingApp:
    """What InProcessLink needs of an app: a message queue, and workers (not started)."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def post_message(self, message: SessionEvent) -> None:
        self.events.append(message.event)

    def run_worker(self, *args, **kwargs) -> None:
        return None


def test_the_in_process_link_hears_the_session_beside_its_own_subscriber(tmp_path):
    own: list[object] = []
    session = make_session(tmp_path / "run", post=own.append)
    app = RecordingApp()
    InProcessLink(session).start(app)  # type: ignore[arg-type]
    session.post(Notice("hello"))
    session.policy.report(Notice("from the policy"))
    assert isinstance(app.events[0], Welcome)
    assert [e.text for e in app.events[1:]] == ["hello", "from the policy"]
    assert [e.text for e in own] == ["hello", "from the policy"]  # type: ignore[attr-defined]


async def test_the_server_broadcasts_beside_the_sessions_own_subscriber(tmp_path):
    own: list[object] = []
    session = make_session(tmp_path / "run", post=own.append, sample_every=0)
    session.send(Stop(save=True))
    report = await RunServer(session, session.run_dir).serve()  # type: ignore[arg-type]
    assert report.saved == [session.run_dir.latest]  # type: ignore[union-attr]
    assert any(isinstance(e, Saved) and e.reason == "exit" for e in own)


def test_every_message_is_a_command_or_an_event():
    commands, events = set(get_args(Command)), set(get_args(Event))
    assert not commands & events
    assert commands | events == set(MESSAGE_TYPES.values())
