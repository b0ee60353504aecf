"""Composing in the app: new messages, replies, the outbox, undo send, discard. No network:
the app's workers are off, so queued messages stay in the outbox for the test to inspect."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import Input, TextArea

from tests.support.demo_app import DEMO_SENDER_CONFIG, NOW, DemoStore, demo_app
from tests.support.pilot import type_into
from tuimail.app.application import TuimailApp
from tuimail.config.load import parse_config
from tuimail.mail.parse import parse_message
from tuimail.store import outbox
from tuimail.ui.screens.composer import (
    AddressError,
    CloseChoice,
    ComposerScreen,
    parse_address_field,
)
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.outbox import OutboxScreen
from tuimail.ui.screens.prompt import Confirm
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.status_bar import StatusBar


@pytest.fixture
def app(tmp_path: Path, demo_store: DemoStore) -> TuimailApp:
    return demo_app(demo_store(tmp_path))


async def test_compose_queues_the_message_with_bcc_only_in_the_envelope(app: TuimailApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        await type_into(pilot, "#to", "Ann <ann@example.org>, bob@example.com")
        await type_into(pilot, "#bcc", "secret@example.net")
        await type_into(pilot, "#subject", "Grüße")
        await type_into(pilot, "#body", "Hello there.\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        (item,) = outbox.items(app.conn)
        assert item.state is outbox.OutboxState.QUEUED
        await pilot.pause()
        assert "outbox 1" in str(app.screen.query_one(StatusBar).render())
        assert item.env_from == "you@demo.invalid"
        assert set(item.env_rcpts) == {"ann@example.org", "bob@example.com", "secret@example.net"}
        assert item.next_attempt > datetime.now(UTC)  # waits for the undo-send delay
        raw = outbox.raw_message(app.conn, item.id)
        assert b"secret@example.net" not in raw
        env = parse_message(raw).envelope
        assert env.subject == "Grüße" and env.message_id == item.message_id


async def test_take_back_from_the_outbox_restores_the_draft(app: TuimailApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        await type_into(pilot, "#to", "ann@example.org")
        await type_into(pilot, "#bcc", "secret@example.net")
        await type_into(pilot, "#subject", "undo me")
        await type_into(pilot, "#body", "text\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OutboxScreen)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        assert outbox.items(app.conn) == []
        assert app.screen.query_one("#subject", Input).value == "undo me"
        assert app.screen.query_one("#bcc", Input).value == "secret@example.net"
        assert app.screen.query_one("#to", Input).value == "ann@example.org"


async def test_reply_prefills_recipient_subject_and_quote(app: TuimailApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        messages = app.screen.query_one(MessageList)
        messages.focus()
        await pilot.press("down", "down")  # the message from Søren
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        assert app.screen.query_one("#to", Input).value == "Søren Berg <soren@example.org>"
        assert app.screen.query_one("#subject", Input).value.startswith("Re: Rapport")
        assert "> Hallo," in app.screen.query_one(TextArea).text


async def test_discard_asks_first_when_something_was_written(app: TuimailApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        await type_into(pilot, "#subject", "half written")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, CloseChoice)  # keep as draft, discard, go on
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert outbox.items(app.conn) == []


async def test_bad_address_is_refused_and_nothing_queued(app: TuimailApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        await type_into(pilot, "#to", "not an address")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        assert outbox.items(app.conn) == []


def test_address_fields() -> None:
    parsed = parse_address_field("To", '"Doe, Jane" <jane@example.org>, x@y.z')
    assert [a.email for a in parsed] == ["jane@example.org", "x@y.z"]
    assert parsed[0].name == "Doe, Jane"
    with pytest.raises(AddressError, match="To: "):
        parse_address_field("To", "jane at example")


async def test_send_later_schedules_the_message(app: TuimailApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        await type_into(pilot, "#to", "ann@example.org")
        await type_into(pilot, "#subject", "later")
        await pilot.press("ctrl+l")
        await pilot.pause()
        await pilot.press("plus", "2", "h", "enter")
        await pilot.pause()
        (item,) = outbox.items(app.conn)
        wait = item.next_attempt - datetime.now(UTC)
        assert item.scheduled_at is not None
        assert 1.9 * 3600 < wait.total_seconds() <= 2 * 3600


async def test_addresses_complete_from_the_store(app: TuimailApp) -> None:
    """Typing the start of a known address offers the rest; the right arrow accepts it."""
    from tuimail.store.addresses import known_addresses
    from tuimail.ui.address_suggester import address_label

    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        best = known_addresses(app.conn)[0]
        label = address_label(best)
        await pilot.press("c")
        await pilot.pause()
        to = app.screen.query_one("#to", Input)
        to.focus()
        await pilot.press("x", "@", "y", ".", "o", "r", "g", ",", "space", *label[:3])
        for _ in range(20):  # the candidates load in a thread
            await pilot.pause(0.05)
            if to._suggestion:
                break
        await pilot.press("right")
        assert to.value == f"x@y.org, {label}"
        await pilot.press("ctrl+u")  # empty the field: nothing is offered for nothing
        await pilot.pause()
        assert not to._suggestion


async def test_a_mailto_link_opens_the_composer_prefilled_and_sends_nothing(
    tmp_path: Path,
    demo_store: DemoStore,
) -> None:
    from tuimail.mail.mailto import parse_mailto

    demo_store(tmp_path)
    link = parse_mailto(
        "mailto:ann@example.org?cc=bob@example.org&subject=Hello&body=Hi%20Ann%0D%0A"
        "&In-Reply-To=%3Corig@example.org%3E&attach=%2Fetc%2Fpasswd"
    )
    app = TuimailApp(
        parse_config(DEMO_SENDER_CONFIG),
        tmp_path,
        clock=lambda: NOW,
        start_workers=False,
        compose=link,
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        assert app.screen.query_one("#to", Input).value == "ann@example.org"
        assert app.screen.query_one("#cc", Input).value == "bob@example.org"
        assert app.screen.query_one("#subject", Input).value == "Hello"
        assert app.screen.query_one("#body", TextArea).text == "Hi Ann\n"
        draft = app.screen.current_draft()
        assert draft.in_reply_to == "orig@example.org" and draft.attachments == ()
        assert outbox.items(app.conn) == [], "nothing is queued before the user sends"
