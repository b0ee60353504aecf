"""What the live IMAP session's events become on screen (`app.bridge.ui_messages_for`): a lost
connection in the status bar with when it is tried again, the server back as the app's cue for
the outbox, and a body that did not come as the message view's reason, all sanitized."""

from __future__ import annotations

from tuimail.app.bridge import ui_messages_for
from tuimail.core.model import Protocol
from tuimail.sync.events import BodyNotFetched, ConnectionBack, Reconnecting
from tuimail.ui.messages import AccountState, AccountStatus, BodyFailed, ServerBack


def test_a_lost_connection_says_why_and_when_it_is_tried_again() -> None:
    event = Reconnecting("home", Protocol.IMAP, 8.0, "connection refused\x1b[2J")
    (status,) = ui_messages_for(event)
    assert isinstance(status, AccountStatus)
    assert status.state is AccountState.ERROR
    assert status.text == "no connection (connection refused); trying again in 8 s"
    assert "\x1b" not in status.text


def test_the_server_back_reaches_the_app() -> None:
    (message,) = ui_messages_for(ConnectionBack("home", Protocol.IMAP))
    assert isinstance(message, ServerBack) and message.account == "home"


def test_a_body_that_did_not_come_tells_the_view_why() -> None:
    (message,) = ui_messages_for(BodyNotFetched("home", 42, "refused\u202e", gone=False))
    assert isinstance(message, BodyFailed)
    assert message.message_id == 42 and "\u202e" not in message.reason and not message.gone
