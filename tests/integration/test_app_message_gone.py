"""The message the user is looking at goes from the store while the app downloads its body
(another client deleted it, and a sync ran meanwhile): the view says so quietly, no error
notice pops up and the account's status is no error. The real Dovecot deletes the message and
the real sync rebuilds the folder, in the middle of the real download."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import imapclient
import pytest
from textual.widgets import Static

from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tests.support.sent_marks import account_config, sender_message
from tuimail.app.application import TuimailApp
from tuimail.store import read
from tuimail.sync.events import discard
from tuimail.sync.imap import account as imap
from tuimail.sync.imap.account import sync_account
from tuimail.ui.messages import AccountState
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.widgets.message_view import MESSAGE_GONE, MessageView
from tuimail.ui.widgets.status_bar import StatusBar

pytestmark = pytest.mark.integration


def _delete_on_server(servers: MailServers, user: str) -> None:
    """Another client deletes every message of the user's INBOX."""
    context = servers.client_ssl_context()
    with imapclient.IMAPClient(
        servers.host, servers.imaps_port, ssl_context=context, timeout=20
    ) as client:
        client.login(user, servers.users[user])
        client.select_folder("INBOX")
        client.delete_messages(client.search("ALL"))
        client.expunge()


async def test_a_message_gone_while_its_body_downloads_is_no_error(
    mail_servers: MailServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = mail_servers.add_user("gonebody")
    mail_servers.deliver(user, sender_message(mail_servers.address(user), 1))
    config = account_config(mail_servers, user, bodies="none")
    account = config.accounts["acct"]
    # Headers only, as a first sync stores them: opening the message downloads its body.
    assert await asyncio.to_thread(sync_account, account, tmp_path, discard)
    fetch = imap.ImapSync.fetch_body
    fetched: list[int] = []

    def deleted_meanwhile(engine: imap.ImapSync, message_id: int, *, full: bool = False) -> bytes:
        # Between the click and the download, another client deletes the message and a sync
        # of the account (whose news reach the app) takes it from the store.
        _delete_on_server(mail_servers, user)
        assert sync_account(account, tmp_path, engine.emit)
        try:
            return fetch(engine, message_id, full=full)
        finally:
            fetched.append(message_id)

    monkeypatch.setattr(imap.ImapSync, "fetch_body", deleted_meanwhile)
    app = TuimailApp(config, tmp_path, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        body = app.screen.query_one("#view-body", Static)
        await wait_for(pilot, lambda: fetched and app.engines.watching("acct"))
        await pilot.pause()
        assert read.row(app.conn, fetched[0]) is None
        text = str(body.render())
        assert MESSAGE_GONE in text  # the folder is empty now: no list to be displaced
        assert "Could not download" not in text and "not in the store" not in text
        notices = list(app._notifications)
        assert not [n for n in notices if n.severity == "error"], [n.message for n in notices]
        assert not [n for n in notices if "not in the store" in n.message]
        state, _ = app.screen.query_one(StatusBar).entry("acct") or (AccountState.IDLE, "")
        assert state is not AccountState.ERROR


@pytest.mark.parametrize("key", ["r", "f"])
async def test_a_reply_or_forward_waiting_for_a_message_that_goes_opens_nothing(
    key: str, mail_servers: MailServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`r` (waiting for the text) or `f` (for the whole message) pressed while the body is on
    its way; then the message goes: a plain notice says so, no composer, the status bar is not
    left saying it downloads."""
    user = mail_servers.add_user("gonereply")
    mail_servers.deliver(user, sender_message(mail_servers.address(user), 1))
    config = account_config(mail_servers, user, bodies="none")
    account = config.accounts["acct"]
    assert await asyncio.to_thread(sync_account, account, tmp_path, discard)
    fetch = imap.ImapSync.fetch_body
    started, go, once = threading.Event(), threading.Event(), threading.Lock()
    finished: list[int] = []

    def deleted_meanwhile(engine: imap.ImapSync, message_id: int, *, full: bool = False) -> bytes:
        started.set()
        assert go.wait(60)
        with once:  # the first download to get here deletes it; any other finds it gone
            if read.row(engine.conn, message_id) is not None:
                _delete_on_server(mail_servers, user)
                assert sync_account(account, tmp_path, engine.emit)
        try:
            return fetch(engine, message_id, full=full)
        finally:
            finished.append(message_id)

    monkeypatch.setattr(imap.ImapSync, "fetch_body", deleted_meanwhile)
    app = TuimailApp(config, tmp_path, start_workers=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, started.is_set)
        await pilot.press(key)
        await pilot.pause()
        go.set()
        await wait_for(pilot, lambda: finished and app.engines.watching("acct"))
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        notices = list(app._notifications)
        assert not [n for n in notices if n.severity == "error"], [n.message for n in notices]
        assert MESSAGE_GONE in [n.message for n in notices]
        state, text = app.screen.query_one(StatusBar).entry("acct") or (AccountState.IDLE, "")
        assert state is not AccountState.ERROR and "downloading" not in text


async def test_a_folder_renumbered_on_the_server_is_said_quietly(
    mail_servers: MailServers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another client renumbered INBOX (a new UIDVALIDITY) since the last sync: the stored UID
    may name another message now, so the body is not fetched; the view says why, in words,
    and no error notice pops up (the next sync rebuilds the folder)."""
    user = mail_servers.add_user("renumbered")
    mail_servers.deliver(user, sender_message(mail_servers.address(user), 1))
    config = account_config(mail_servers, user, bodies="none")
    assert await asyncio.to_thread(sync_account, config.accounts["acct"], tmp_path, discard)
    mail_servers.doveadm("mailbox", "update", "-u", user, "--uid-validity", "1700000000", "INBOX")
    app = TuimailApp(config, tmp_path, start_workers=False)
    # What the view said of the body, in order: the pass that follows on the same connection
    # rebuilds the folder, and the list then says its message is gone, maybe before a look at
    # the screen could catch the first words.
    said: list[str] = []
    failed = MessageView.download_failed

    def noted(view: MessageView, reason: str, gone: str | None) -> None:
        failed(view, reason, gone)
        said.append(str(view.query_one("#view-body", Static).render()))

    monkeypatch.setattr(MessageView, "download_failed", noted)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: any("Not downloaded" in text for text in said))
        assert "the folder changed on the server" in said[0]
        notices = list(app._notifications)
        assert not [n for n in notices if n.severity == "error"], [n.message for n in notices]
