"""The message the user is looking at goes from the store while the app downloads its body
(another client deleted it, and a sync ran meanwhile): the view says so quietly, no error
notice pops up and the account's status is no error. The real Dovecot deletes the message and
the real sync rebuilds the folder, in the middle of the real download."""

from __future__ import annotations

import asyncio
from pathlib import Path

import imapclient
import pytest
from textual.widgets import Static

from tests.integration.test_app_sent_marks import _config, _message
from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tuimail.app import TuimailApp
from tuimail.store import read
from tuimail.sync import imap
from tuimail.sync.events import discard
from tuimail.sync.imap_command import sync_account
from tuimail.ui.messages import AccountState
from tuimail.ui.screens.main import MESSAGE_GONE
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
    mail_servers.deliver(user, _message(mail_servers.address(user), 1))
    config = _config(mail_servers, user)
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
        await wait_for(pilot, lambda: fetched and not app.workers)
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
