"""How long the IMAP live session waits before it tries a lost server again: doubling from
the start, at most NETWORK_BACKOFF_MAX (5 s) while the server cannot be reached, so that what
waits for it goes soon after it is back, and at most BACKOFF_MAX for other failures. The waits
are recorded, not waited (no server: the connection fails before any network use)."""

from __future__ import annotations

import threading
from pathlib import Path

from tuimail.config.schema import AccountConfig, ServerConfig
from tuimail.core.model import Protocol, Security
from tuimail.sync.errors import ServerProtocolError
from tuimail.sync.events import Event, Reconnecting
from tuimail.sync.imap import live
from tuimail.sync.imap.live import LiveSession

ACCOUNT = AccountConfig(
    name="home",
    address="me@example.org",
    password_command="printf secret",
    incoming=ServerConfig(Protocol.IMAP, "127.0.0.1", 1, Security.NONE, "me"),
)


def waits(tmp_path: Path, failure: BaseException, count: int) -> list[float]:
    """The waits of the first `count` reconnects after `failure`, announced and recorded."""
    events: list[Event] = []
    cancel = threading.Event()

    def connect() -> object:
        raise failure

    session = LiveSession(ACCOUNT, tmp_path, emit=events.append, cancel=cancel, connect=connect)
    recorded: list[float] = []

    def pause(seconds: float) -> bool:
        recorded.append(seconds)
        if len(recorded) == count:
            cancel.set()
        return cancel.is_set()

    session._pause = pause  # type: ignore[method-assign]
    session.run()
    said = [event.seconds for event in events if isinstance(event, Reconnecting)]
    assert said == recorded, "the status bar says the wait the session keeps"
    return recorded


def test_an_unreachable_server_is_tried_again_within_five_seconds(tmp_path: Path) -> None:
    refused = ConnectionRefusedError("connection refused")
    assert live.NETWORK_BACKOFF_MAX == 5.0
    assert waits(tmp_path, refused, 6) == [2.0, 4.0, 5.0, 5.0, 5.0, 5.0]


def test_a_server_that_answers_wrongly_is_tried_again_less_and_less_often(
    tmp_path: Path,
) -> None:
    garbled = ServerProtocolError("a greeting that is not IMAP")
    recorded = waits(tmp_path, garbled, 9)
    assert recorded == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0]
