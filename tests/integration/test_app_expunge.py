"""The app on a server without UIDPLUS and MOVE (the reduced Dovecot): `d` and `s` leave the
originals marked deleted on the server; the app says so, the sync health shows them, and `X`
(after a question whose default is No) expunges the folder — checked on the server itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import imapclient
import pytest
from rich.console import Console

from tests.support.app_mail import account_config, numbered_message, place_cursor_on
from tests.support.dovecot import DovecotServer
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.store import ops, read
from tuimail.sync.events import discard
from tuimail.sync.imap.account import sync_account
from tuimail.ui.screens.folder_picker import FolderPicker
from tuimail.ui.screens.health import HealthScreen, health_tables
from tuimail.ui.screens.main import MainScreen
from tuimail.ui.screens.prompt import Confirm

pytestmark = pytest.mark.integration


def _server(server: DovecotServer, user: str) -> dict[str, dict[str, frozenset[bytes]]]:
    """Folder -> subject -> flags, as the server holds them."""
    found: dict[str, dict[str, frozenset[bytes]]] = {}
    with imapclient.IMAPClient(
        server.host, server.imaps_port, ssl_context=server.client_ssl_context(), timeout=20
    ) as client:
        client.login(user, server.users[user])
        for folder in ("INBOX", "Trash", "Projects"):
            client.select_folder(folder, readonly=True)
            data = client.fetch(
                client.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]
            )
            found[folder] = {
                item[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip(): (
                    frozenset(item[b"FLAGS"]) - {b"\\Recent"}
                )
                for item in data.values()
            }
    return found


def _told(app: TuimailApp, words: str) -> bool:
    return any(words in " ".join(str(n.message).split()) for n in app._notifications)


def _health(app: TuimailApp) -> str:
    console = Console(width=300, record=True)
    for table in health_tables(app.conn):
        console.print(table)
    return " ".join(console.export_text().split())


async def test_d_and_s_leave_marks_that_x_expunges_after_asking(
    reduced_dovecot, tmp_path: Path
) -> None:
    server = reduced_dovecot(without={"UIDPLUS", "MOVE"})
    user = server.add_user("appexpunge")
    for number in (1, 2, 3, 4):
        server.deliver(user, numbered_message(number))
    with imapclient.IMAPClient(
        server.host, server.imaps_port, ssl_context=server.client_ssl_context(), timeout=20
    ) as client:
        client.login(user, server.users[user])
        client.create_folder("Projects")
    config = account_config(server, user, "imap", server.imaps_port)
    assert await asyncio.to_thread(sync_account, config.accounts["acct"], tmp_path, discard)

    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MainScreen)
        inbox = next(f.id for f in read.folders(app.conn) if f.name == "INBOX")
        screen.show_place((inbox,))
        await pilot.pause()
        place_cursor_on(app, "app test 1")
        await pilot.press("d")  # to the Trash: COPY there, \Deleted here
        await pilot.pause()
        place_cursor_on(app, "app test 2")
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, FolderPicker)
        await pilot.press(*"proj", "enter")
        await pilot.pause()

        await wait_for(pilot, lambda: ops.count_pending(app.conn) == 0)
        # The app says what stays on the server, and what would remove it.
        await wait_for(pilot, lambda: _told(app, "stay on the server marked deleted"), 20)
        assert _told(app, "Press X in the folder to expunge it")
        on_server = await asyncio.to_thread(_server, server, user)
        assert on_server["INBOX"] == {
            "app test 1": frozenset({b"\\Deleted"}),
            "app test 2": frozenset({b"\\Deleted"}),
            "app test 3": frozenset(),
            "app test 4": frozenset(),
        }
        assert set(on_server["Trash"]) == {"app test 1"}
        assert set(on_server["Projects"]) == {"app test 2"}

        await pilot.press("H")
        await pilot.pause()
        assert isinstance(app.screen, HealthScreen)
        assert (
            "INBOX: 2 messages marked deleted stay on the server, because it has no UIDPLUS"
            in _health(app)
        )
        await pilot.press("escape")
        await pilot.pause()

        # The question's default is No: enter leaves everything as it is.
        await pilot.press("X")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert ops.count_pending(app.conn) == 0

        await pilot.press("X")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await pilot.pause()
        await wait_for(
            pilot,
            lambda: ops.count_pending(app.conn) == 0 and read.marked_deleted(app.conn) == {},
        )
        await pilot.press("q")

    on_server = await asyncio.to_thread(_server, server, user)
    assert on_server == {
        "INBOX": {"app test 3": frozenset(), "app test 4": frozenset()},
        "Trash": {"app test 1": frozenset()},
        "Projects": {"app test 2": frozenset()},
    }
