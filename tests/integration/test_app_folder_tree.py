"""Folders of a server with an `INBOX.` personal namespace (Cyrus's default, Courier) show as a
tree without the prefix, in the folder pane and in the move picker; a message moved into a
nested folder there lands in that folder on the server (the real Dovecot, laid out as Cyrus is).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import imapclient
import pytest
from textual.widgets import OptionList

from tests.support.app_mail import account_config, numbered_message, place_cursor_on
from tests.support.dovecot import DovecotServer
from tuimail.app.application import TuimailApp
from tuimail.store import ops, read
from tuimail.store.db import open_store
from tuimail.sync.events import discard
from tuimail.sync.imap.account import sync_account
from tuimail.ui.screens.folder_picker import FolderPicker
from tuimail.ui.screens.main import MainScreen

pytestmark = pytest.mark.integration

MOVED = "<app-2@tuimail.test>"


def _lines(listing: OptionList) -> list[str]:
    return [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]


async def test_an_inbox_prefixed_server_shows_a_tree_and_moves_into_a_nested_folder(
    cyrus_like_dovecot: DovecotServer, tmp_path: Path
) -> None:
    server = cyrus_like_dovecot
    user = server.add_user("tree")
    for number in (1, 2):
        server.deliver(user, numbered_message(number))
    context = server.client_ssl_context()
    with imapclient.IMAPClient(server.host, server.imaps_port, ssl_context=context) as client:
        client.login(user, server.users[user])
        client.create_folder("INBOX.Lists.dev")  # INBOX.Lists itself is no folder
        client.create_folder("INBOX.Projects")
    config = account_config(server, user, "imap", server.imaps_port)  # type: ignore[arg-type]
    assert await asyncio.to_thread(sync_account, config.accounts["acct"], tmp_path, discard)

    app = TuimailApp(config, tmp_path, offline=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MainScreen)
        pane = _lines(screen.query_one("#folders", OptionList))
        account = pane.index("acct")
        assert pane[account + 1 : account + 10] == [
            "  INBOX 2",
            "  Archive",
            "  Drafts",
            "  Gesendete Elemente",
            "  Junk",
            "  Lists",
            "    dev",
            "  Projects",
            "  Trash",
        ]
        assert not any("INBOX." in line for line in pane)

        chosen = place_cursor_on(app, "app test 2")
        await pilot.press("s")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, FolderPicker)
        listing = picker.query_one(OptionList)
        assert _lines(listing) == [
            "Archive",
            "Drafts",
            "Gesendete Elemente",
            "Junk",
            "Lists",
            "  dev",
            "Projects",
            "Trash",
        ]
        assert listing.get_option_at_index(4).disabled, "Lists is a level, not a folder"
        # Typing narrows to the matching paths, as the server's delimiter writes them.
        await pilot.press("d", "e", "v")
        await pilot.pause()
        assert _lines(listing) == ["Lists.dev"]
        await pilot.press("backspace", "backspace", "backspace")
        await pilot.pause()
        assert len(_lines(listing)) == 8 and listing.highlighted == 0
        # Down from Archive, over the Lists level, to dev.
        await pilot.press("down", "down", "down", "down")
        assert listing.highlighted == 5
        await pilot.press("enter")
        await pilot.pause()
        dev = next(f for f in read.folders(app.conn) if f.path == ("Lists", "dev"))
        assert dev.name == "INBOX.Lists.dev", "the server's name is kept whole"
        assert read.row(app.conn, chosen).folder_id == dev.id  # type: ignore[union-attr]
        assert ops.count_pending(app.conn) == 1
        await pilot.press("q")

    assert await asyncio.to_thread(sync_account, config.accounts["acct"], tmp_path, discard)
    assert server.find_message(user, MOVED, "INBOX.Lists.dev")
    assert not server.find_message(user, MOVED, "INBOX")
    conn = open_store(tmp_path)
    try:
        account_id = read.account_id(conn, "acct")
        assert account_id is not None
        assert ops.pending(conn, account_id) == [] and ops.failed(conn, account_id) == []
        row = read.row(conn, chosen)
        assert row is not None and row.uid is not None
        assert read.folder(conn, row.folder_id).name == "INBOX.Lists.dev"  # type: ignore[union-attr]
    finally:
        conn.close()
