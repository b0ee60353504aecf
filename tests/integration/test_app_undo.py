"""Undo (u) against the real Dovecot: a move to Trash taken back before the replay (offline: the
journal entry is cancelled) and after it (the IMAP worker moves it back); the message ends in the
INBOX with its flags, on the server too. And a background update from the server (mail
delivered while a search is shown) keeps the search and the highlighted message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import imapclient
import pytest

from tests.support.app_mail import account_config, numbered_message, place_cursor_on
from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.core.model import FLAGGED
from tuimail.store import ops, read
from tuimail.store.db import open_store
from tuimail.sync.events import discard
from tuimail.sync.imap.account import sync_account
from tuimail.ui.widgets.message_list import MessageList

pytestmark = pytest.mark.integration

WANTED = "<app-2@tuimail.test>"


def _server_places(mail_servers: MailServers, user: str) -> dict[str, list[tuple[bytes, ...]]]:
    """Folder -> the flags of each copy of message 2 the server holds there."""
    context = mail_servers.client_ssl_context()
    found: dict[str, list[tuple[bytes, ...]]] = {}
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
    ) as client:
        client.login(user, mail_servers.users[user])
        for folder in ("INBOX", "Trash"):
            client.select_folder(folder, readonly=True)
            uids = client.search(["HEADER", "Message-ID", WANTED, "NOT", "DELETED"])
            flags = client.get_flags(uids) if uids else {}
            found[folder] = [tuple(sorted(f)) for f in flags.values()]
    return found


def _flag_on_server(mail_servers: MailServers, user: str) -> None:
    context = mail_servers.client_ssl_context()
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
    ) as client:
        client.login(user, mail_servers.users[user])
        client.select_folder("INBOX")
        client.add_flags(client.search(["HEADER", "Message-ID", WANTED]), [b"\\Flagged"])


async def test_undo_a_move_to_trash_before_and_after_the_replay(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appundo")
    for number in (1, 2, 3):
        mail_servers.deliver(user, numbered_message(number))
    _flag_on_server(mail_servers, user)
    config = account_config(mail_servers, user, "imap", mail_servers.imaps_port)
    assert await asyncio.to_thread(sync_account, config.accounts["acct"], tmp_path, discard)
    conn = open_store(tmp_path)
    try:
        trash = next(f for f in read.folders(conn) if f.name == "Trash")
    finally:
        conn.close()

    # Before the replay (offline, nothing connects): d then u cancels the journal entry.
    app = TuimailApp(config, tmp_path, offline=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        chosen = place_cursor_on(app, "app test 2")
        before = read.row(app.conn, chosen)
        await pilot.press("d")
        await pilot.pause()
        assert read.row(app.conn, chosen).folder_id == trash.id
        assert ops.count_pending(app.conn) == 1
        await pilot.press("u")
        await pilot.pause()
        assert ops.count_pending(app.conn) == 0
        row = read.row(app.conn, chosen)
        assert (row.folder_id, row.uid, row.flags) == (before.folder_id, before.uid, before.flags)

    # After the replay: the worker moved it to Trash on the server; u moves it back.
    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        messages = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(messages.ids) == 3)
        chosen = place_cursor_on(app, "app test 2")
        messages.focus()
        await pilot.press("d")

        async def server_has(folder: str) -> bool:
            places = await asyncio.to_thread(_server_places, mail_servers, user)
            return len(places[folder]) == 1 and sum(len(v) for v in places.values()) == 1

        for _ in range(300):
            if await server_has("Trash") and ops.count_pending(app.conn) == 0:
                break
            await pilot.pause(0.1)
        assert await server_has("Trash")
        await pilot.press("u")
        await pilot.pause()
        for _ in range(300):
            if await server_has("INBOX") and ops.count_pending(app.conn) == 0:
                break
            await pilot.pause(0.1)
        places = await asyncio.to_thread(_server_places, mail_servers, user)
        assert places["Trash"] == [] and len(places["INBOX"]) == 1
        assert b"\\Flagged" in places["INBOX"][0]
        assert ops.count_pending(app.conn) == 0
        inbox = next(f for f in read.folders(app.conn) if f.name == "INBOX")
        [row] = [read.row(app.conn, i) for i in read.message_ids(app.conn, inbox.id)
                 if read.row(app.conn, i).envelope.message_id == WANTED.strip("<>")]  # fmt: skip
        assert FLAGGED in row.flags and row.uid is not None


async def test_mail_delivered_during_a_search_keeps_it_and_the_cursor(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appsearch")
    for number in (1, 2, 3):
        mail_servers.deliver(user, numbered_message(number))
    config = account_config(mail_servers, user, "imap", mail_servers.imaps_port)
    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        messages = app.screen.query_one(MessageList)
        await wait_for(pilot, lambda: len(messages.ids) == 3)
        await wait_for(pilot, lambda: app.engines.watching("acct"))
        messages.focus()
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"subject:test", "enter")  # all three: "app test N"
        await pilot.pause()
        await wait_for(pilot, lambda: messages.place is None and len(messages.ids) == 3)
        await pilot.press("j")
        chosen = messages.current_message_id
        # Another sender's mail arrives (LMTP); the inbox watcher stores it.
        await asyncio.to_thread(mail_servers.deliver, user, numbered_message(4))
        inbox = next(f for f in read.folders(app.conn) if f.name == "INBOX")
        await wait_for(pilot, lambda: read.folder(app.conn, inbox.id).total == 4)
        await wait_for(pilot, lambda: len(messages.ids) == 4)  # it matches: it joins the results
        await pilot.pause()
        assert messages.place is None, "the search ended"
        assert messages.current_message_id == chosen
        subject = read.row(app.conn, chosen).envelope.subject
        assert subject != "app test 4"
        await pilot.press("F", "d")  # both act on the message the user highlighted
        row = read.row(app.conn, chosen)
        assert FLAGGED in row.flags and read.folder(app.conn, row.folder_id).name == "Trash"
