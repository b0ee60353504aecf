"""A message moved back and forth in the app while offline, then flagged: every action reaches
the real Dovecot on the next `tuimail sync`, in order, and the store agrees with the server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import imapclient
import pytest

from tests.support.app_mail import account_config, numbered_message, place_cursor_on
from tests.support.mailservers import MailServers
from tuimail.app.application import TuimailApp
from tuimail.store import ops, read
from tuimail.store.db import open_store
from tuimail.sync.events import discard
from tuimail.sync.imap.account import sync_account
from tuimail.ui.screens.folder_picker import FolderPicker
from tuimail.ui.screens.main import MainScreen

pytestmark = pytest.mark.integration

WANTED = "<app-2@tuimail.test>"
FOLDERS = ("INBOX", "Projects", "Waiting")


def _server_places(mail_servers: MailServers, user: str) -> dict[str, list[frozenset[bytes]]]:
    """Folder -> the flags of each copy of message 2 there that is not marked \\Deleted."""
    context = mail_servers.client_ssl_context()
    found: dict[str, list[frozenset[bytes]]] = {}
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
    ) as client:
        client.login(user, mail_servers.users[user])
        for folder in FOLDERS:
            client.select_folder(folder, readonly=True)
            uids = client.search(["HEADER", "Message-ID", WANTED, "NOT", "DELETED"])
            flags = client.get_flags(uids) if uids else {}
            found[folder] = [frozenset(f) - {b"\\Recent"} for f in flags.values()]
    return found


async def test_moved_away_and_back_then_flagged_offline_all_reaches_the_server(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appmoves")
    for number in (1, 2):
        mail_servers.deliver(user, numbered_message(number))
    context = mail_servers.client_ssl_context()
    with imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
    ) as client:
        client.login(user, mail_servers.users[user])
        for folder in FOLDERS[1:]:
            client.create_folder(folder)
    config = account_config(mail_servers, user, "imap", mail_servers.imaps_port)
    assert await asyncio.to_thread(sync_account, config.accounts["acct"], tmp_path, discard)

    app = TuimailApp(config, tmp_path, offline=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MainScreen)
        places = {f.name: f.id for f in read.folders(app.conn)}
        chosen = place_cursor_on(app, "app test 2")
        # s Projects, s Waiting, s Projects: each time from the folder it is in.
        for here, to in (("INBOX", "Projects"), ("Projects", "Waiting"), ("Waiting", "Projects")):
            screen.show_place((places[here],))
            await pilot.pause()
            assert place_cursor_on(app, "app test 2") == chosen
            await pilot.press("s")
            await pilot.pause()
            assert isinstance(app.screen, FolderPicker)
            await pilot.press(*to[:3].lower(), "enter")
            await pilot.pause()
            assert read.row(app.conn, chosen).folder_id == places[to]  # type: ignore[union-attr]
        screen.show_place((places["Projects"],))
        await pilot.pause()
        place_cursor_on(app, "app test 2")
        await pilot.press("F")
        await pilot.pause()
        assert "\\Flagged" in read.row(app.conn, chosen).flags  # type: ignore[union-attr]
        assert ops.count_pending(app.conn) == 4
        await pilot.press("q")

    assert await asyncio.to_thread(sync_account, config.accounts["acct"], tmp_path, discard)
    places_on_server = await asyncio.to_thread(_server_places, mail_servers, user)
    assert places_on_server == {
        "INBOX": [],
        "Projects": [frozenset({b"\\Flagged"})],
        "Waiting": [],
    }
    conn = open_store(tmp_path)
    try:
        account = read.account_id(conn, "acct")
        assert account is not None
        assert ops.pending(conn, account) == [] and ops.failed(conn, account) == []
        row = read.row(conn, chosen)
        assert row is not None, "the message keeps its row"
        projects = next(f for f in read.folders(conn) if f.name == "Projects")
        assert row.folder_id == projects.id and row.uid is not None
        assert "\\Flagged" in row.flags
        assert [r for r in read.message_ids(conn, projects.id)] == [chosen], "one copy, in Projects"
    finally:
        conn.close()
