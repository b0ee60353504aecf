"""What the app says and marks around sending, against the real Postfix and Dovecot: a reply
or forward flags its original (\\Answered, $Forwarded) once it is sent, on the server too;
refused recipients are named until dismissed; the status line tells what happened, and the
message view says so when a body cannot be downloaded."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import imapclient
import pytest
from textual.widgets import Input, Static

from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tests.support.sent_marks import account_config, sender_message
from tests.support.terminal import screen_lines
from tuimail.app.application import TuimailApp
from tuimail.core.model import Protocol
from tuimail.store import outbox, outbox_refusals, read
from tuimail.sync.events import Event, SyncFinished, discard
from tuimail.sync.imap.account import sync_account
from tuimail.ui.screens.composer import ComposerScreen
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.outbox import OutboxScreen
from tuimail.ui.screens.prompt import Confirm
from tuimail.ui.widgets.message_list import MessageList
from tuimail.ui.widgets.status_bar import StatusBar

pytestmark = pytest.mark.integration

ANSWERED, FORWARDED = "\\Answered", "$Forwarded"


def _server_flags(servers: MailServers, user: str) -> dict[str, set[str]]:
    """Subject -> flags of every message in the user's INBOX, as Dovecot has them."""
    context = servers.client_ssl_context()
    with imapclient.IMAPClient(
        servers.host, servers.imaps_port, ssl_context=context, timeout=20
    ) as client:
        client.login(user, servers.users[user])
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search("ALL"), ["FLAGS", "ENVELOPE"])
        return {
            data[b"ENVELOPE"].subject.decode(): {
                f.decode() if isinstance(f, bytes) else f for f in data[b"FLAGS"]
            }
            for data in fetched.values()
        }


def _record(app: TuimailApp) -> list[Event]:
    """Every engine event the app receives, in order."""
    events: list[Event] = []
    app_emit = app.bridge.emit

    def record(event: Event) -> None:
        events.append(event)
        app_emit(event)

    app.bridge.emit = record  # type: ignore[method-assign]
    return events


def _status_texts(app: TuimailApp) -> list[str]:
    """Every text the status bar shows for account `acct`, from now on."""
    shown: list[str] = []
    bar = app.screen.query_one(StatusBar)
    set_account = bar.set_account

    def record(account, state, text) -> None:  # type: ignore[no-untyped-def]
        shown.append(text)
        set_account(account, state, text)

    bar.set_account = record  # type: ignore[method-assign]
    return shown


async def _open_by_subject(pilot, subject: str) -> None:
    table = pilot.app.screen.query_one(MessageList)
    table.focus()
    index = next(i for i in range(len(table.ids)) if table.row_at(i).envelope.subject == subject)
    await pilot.press("home", *["down"] * index)
    await pilot.pause()
    assert table.row_at(table.cursor).envelope.subject == subject


async def _type_into(pilot, selector: str, text: str) -> None:
    pilot.app.screen.query_one(selector, Input).focus()
    await pilot.press(*text)


def _row_flags(app: TuimailApp, subject: str) -> frozenset[str]:
    table = app.screen.query_one(MessageList)
    rows = read.rows(app.conn, table.ids)
    return next(r.flags for r in rows if r.envelope.subject == subject)


async def test_replies_and_forwards_mark_their_originals_once_sent(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("marks")
    writer = mail_servers.add_user("writer")
    friend = mail_servers.add_user("friend")
    for number in (1, 2):
        mail_servers.deliver(user, sender_message(mail_servers.address(writer), number))
    app = TuimailApp(account_config(mail_servers, user, undo=3), tmp_path)
    events = _record(app)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(table.ids) == 2)
        shown = _status_texts(app)

        # Reply to "original 1" with r: queued, so nothing is marked yet.
        await _open_by_subject(pilot, "original 1")
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ComposerScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert ANSWERED not in _row_flags(app, "original 1")

        # Forward "original 2" with f, to a friend.
        await _open_by_subject(pilot, "original 2")
        await pilot.press("f")
        await pilot.pause()
        await _type_into(pilot, "#to", mail_servers.address(friend))
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert FORWARDED not in _row_flags(app, "original 2")

        # Once sent, the originals are marked here and, after the replay, on the server.
        def sent() -> bool:
            items = outbox.items(app.conn)
            return len(items) == 2 and all(i.state is outbox.OutboxState.SENT for i in items)

        await wait_for(pilot, sent, seconds=60)
        await wait_for(pilot, lambda: ANSWERED in _row_flags(app, "original 1"))
        await wait_for(pilot, lambda: FORWARDED in _row_flags(app, "original 2"))
        for _ in range(300):
            flags = await asyncio.to_thread(_server_flags, mail_servers, user)
            if "\\Answered" in flags["original 1"] and "$Forwarded" in flags["original 2"]:
                break
            await pilot.pause(0.1)
        assert "\\Answered" in flags["original 1"] and "$Forwarded" not in flags["original 1"]
        assert "$Forwarded" in flags["original 2"] and "\\Answered" not in flags["original 2"]

        # The list shows the marks.
        lines = screen_lines(app)
        assert any("↩" in line and "original 1" in line for line in lines), lines
        assert any("→" in line and "original 2" in line for line in lines), lines

    # A first sync says what it brought, not "0 new"; a sending pass that found nothing due
    # (the messages were still in their undo-send time) said nothing at all.
    first = next(e for e in events if isinstance(e, SyncFinished) and e.protocol.value == "imap")
    assert "first download: 2 messages" in first.summary
    assert not [text for text in shown if "0 sent" in text or "0 new" in text], shown


async def test_a_forward_of_marked_messages_flags_every_one_once_sent_not_when_it_fails(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    """Two messages marked (v), f forwards them in one message, each attached whole: a send
    the server refuses (its one recipient, for good) flags neither; sent, both are $Forwarded
    here and on the server, and the message not marked is not."""
    user = mail_servers.add_user("fwdmany")
    writer = mail_servers.add_user("writer")
    friend = mail_servers.add_user("friend")
    for number in (1, 2, 3):
        mail_servers.deliver(user, sender_message(mail_servers.address(writer), number))
    app = TuimailApp(account_config(mail_servers, user, undo=0), tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(table.ids) == 3)

        async def forward_marked_to(address: str) -> None:
            await _open_by_subject(pilot, "original 1")
            await pilot.press("v")
            await _open_by_subject(pilot, "original 3")
            await pilot.press("v")
            assert len(table.marked_ids()) == 2
            await pilot.press("f")
            await wait_for(pilot, lambda: isinstance(app.screen, ComposerScreen))
            await _type_into(pilot, "#to", address)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))

        def ended(count: int) -> bool:
            items = outbox.items(app.conn)
            return len(items) == count and all(
                i.state in (outbox.OutboxState.SENT, outbox.OutboxState.FAILED) for i in items
            )

        # Refused for good: the forward failed, so nothing was forwarded.
        await forward_marked_to("nobody@elsewhere.invalid")
        await wait_for(pilot, lambda: ended(1), seconds=60)
        (failed,) = outbox.items(app.conn)
        assert failed.state is outbox.OutboxState.FAILED
        for subject in ("original 1", "original 2", "original 3"):
            assert FORWARDED not in _row_flags(app, subject)

        await pilot.press("U")  # no marks left over: the same two are marked again

        await forward_marked_to(mail_servers.address(friend))
        await wait_for(pilot, lambda: ended(2), seconds=60)
        assert {i.state for i in outbox.items(app.conn)} == {
            outbox.OutboxState.SENT,
            outbox.OutboxState.FAILED,
        }
        await wait_for(pilot, lambda: FORWARDED in _row_flags(app, "original 1"))
        assert FORWARDED in _row_flags(app, "original 3")
        assert FORWARDED not in _row_flags(app, "original 2")
        for _ in range(300):
            flags = await asyncio.to_thread(_server_flags, mail_servers, user)
            if FORWARDED in flags["original 1"] and FORWARDED in flags["original 3"]:
                break
            await pilot.pause(0.1)
        assert FORWARDED in flags["original 1"] and FORWARDED in flags["original 3"], flags
        assert FORWARDED not in flags["original 2"], flags

    # The friend got one message with both originals attached whole.
    for _ in range(300):
        delivered = await asyncio.to_thread(_inbox_messages, mail_servers, friend)
        if delivered:
            break
        await asyncio.sleep(0.1)
    (forward,) = delivered
    attached = [part for part in forward.walk() if part.get_content_type() == "message/rfc822"]
    subjects = sorted(part.get_payload(0)["Subject"] for part in attached)
    assert subjects == ["original 1", "original 3"]


def _inbox_messages(servers: MailServers, user: str) -> list[EmailMessage]:
    """Every message in the user's INBOX, parsed."""
    context = servers.client_ssl_context()
    with imapclient.IMAPClient(
        servers.host, servers.imaps_port, ssl_context=context, timeout=20
    ) as client:
        client.login(user, servers.users[user])
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search("ALL"), ["RFC822"])
        return [
            message_from_bytes(data[b"RFC822"], policy=policy.default)  # type: ignore[misc]
            for data in fetched.values()
        ]


async def test_the_first_sync_stays_on_the_status_line_after_the_session_watches(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("words")
    for number in (1, 2, 3):
        mail_servers.deliver(user, sender_message(mail_servers.address(user), number))
    app = TuimailApp(account_config(mail_servers, user), tmp_path)
    events = _record(app)
    async with app.run_test(size=(120, 36)) as pilot:
        bar = app.screen.query_one(StatusBar)
        # The sync, the sending pass (nothing to send), and the live session watching for news
        # once the bodies are down.
        await wait_for(
            pilot,
            lambda: (
                app.engines.watching("acct")
                and {e.protocol for e in events if isinstance(e, SyncFinished)}
                >= {Protocol.IMAP, Protocol.SMTP}
            ),
        )
        await pilot.pause()
        entry = bar.entry("acct")
        assert entry is not None
        assert "first download: 3 messages" in entry[1], entry
        assert "0 new" not in entry[1] and "0 sent" not in entry[1], entry


async def test_refused_recipients_are_named_until_dismissed(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("refused")
    friend = mail_servers.add_user("friend")
    stranger = "nobody@elsewhere.invalid"  # the test Postfix refuses other domains at RCPT
    app = TuimailApp(account_config(mail_servers, user, undo=0), tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        await _type_into(pilot, "#to", f"{mail_servers.address(friend)}, {stranger}")
        await _type_into(pilot, "#subject", "partly refused")
        await pilot.press("ctrl+s")
        await pilot.pause()

        def sent() -> bool:
            items = outbox.items(app.conn)
            return bool(items) and items[0].state is outbox.OutboxState.SENT

        await wait_for(pilot, sent, seconds=60)
        (item,) = outbox.items(app.conn)
        # A notice names the refused address with the server's reply.
        await wait_for(pilot, lambda: any(stranger in n.message for n in app._notifications))
        (notice,) = [n for n in app._notifications if stranger in n.message]
        assert f"{stranger}: 5" in notice.message and "Sent, but not to" in notice.message
        await pilot.pause(1.0)
        # The outbox keeps the sent message, with each refused address, until x dismisses it.
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OutboxScreen)
        detail = str(app.screen.query_one("#outbox-detail", Static).render())
        assert f"{stranger}: 5" in detail
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        # The question is about the refusals: the message itself was sent.
        assert "Dismiss its refused recipients?" in app.screen.question
        await pilot.press("y")
        await pilot.pause()
        assert outbox_refusals.refusals(app.conn, item.id) == {}
        assert "The outbox is empty." in str(app.screen.query_one("#outbox-detail").render())


async def test_a_body_that_cannot_be_downloaded_says_why_in_the_view(
    mail_servers: MailServers, tmp_path: Path, closed_port: int
) -> None:
    user = mail_servers.add_user("nobody")
    mail_servers.deliver(user, sender_message(mail_servers.address(user), 1))
    # Headers only (bodies = "none"); then the server is gone (nothing listens).
    headers_only = account_config(mail_servers, user, bodies="none").accounts["acct"]
    assert await asyncio.to_thread(sync_account, headers_only, tmp_path, discard)
    config = account_config(mail_servers, user, imap_port=closed_port, bodies="none")
    app = TuimailApp(config, tmp_path, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        body = app.screen.query_one("#view-body", Static)
        await wait_for(pilot, lambda: "Could not download the message" in str(body.render()))
        text = str(body.render())
        assert "Downloading" not in text
        assert "refused" in text  # the reason, in words
        assert "tried again when you open the message again" in text
