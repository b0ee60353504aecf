"""The user acts in the app on a message of a folder that another client has just swapped with
another one of the same UIDVALIDITY (the real Dovecot, `doveadm mailbox update --uid-validity`
and `doveadm mailbox rename`): `d`, `s` and `F` never reach another message on the next sync,
and what the user then does on the rebuilt folders reaches the message meant."""

from __future__ import annotations

import asyncio
from pathlib import Path

import imapclient
import pytest

from tests.support.app_mail import account_config, place_cursor_on
from tests.support.mailservers import MailServers
from tests.support.pilot import wait_for
from tuimail.app.application import TuimailApp
from tuimail.store import ops, read
from tuimail.store.db import open_store
from tuimail.sync.events import discard
from tuimail.sync.imap.account import sync_account
from tuimail.sync.imap.identity import FOLDER_CHANGED
from tuimail.ui.screens.folder_picker import FolderPicker
from tuimail.ui.screens.main import MainScreen

pytestmark = pytest.mark.integration

FOLDERS = ("Work", "Play", "Trash", "Archive")


def numbered_message(tag: str) -> bytes:
    return (
        f"From: Sender <sender@tuimail.test>\r\n"
        "To: someone@tuimail.test\r\n"
        f"Subject: {tag}\r\n"
        "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
        f"Message-ID: <{tag.replace(' ', '-')}@swap.tuimail.test>\r\n"
        "\r\n"
        f"Body of {tag}.\r\n"
    ).encode()


def _client(mail_servers: MailServers, user: str) -> imapclient.IMAPClient:
    context = mail_servers.client_ssl_context()
    client = imapclient.IMAPClient(
        mail_servers.host, mail_servers.imaps_port, ssl_context=context, timeout=20
    )
    client.login(user, mail_servers.users[user])
    return client


def _server(mail_servers: MailServers, user: str) -> dict[str, dict[str, frozenset[bytes]]]:
    """Folder -> Subject -> flags, of the messages not marked \\Deleted."""
    found: dict[str, dict[str, frozenset[bytes]]] = {}
    with _client(mail_servers, user) as client:
        for folder in FOLDERS:
            client.select_folder(folder, readonly=True)
            data = client.fetch(
                client.search(["NOT", "DELETED"]), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]
            )
            found[folder] = {
                item[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip(): (
                    frozenset(item[b"FLAGS"]) - {b"\\Recent"}
                )
                for item in data.values()
            }
    return found


async def _act(app: TuimailApp, pilot, folder: str, subject: str, key: str) -> None:  # type: ignore[no-untyped-def]
    screen = app.screen
    assert isinstance(screen, MainScreen)
    place = next(f.id for f in read.folders(app.conn) if f.name == folder)
    screen.show_place((place,))
    await pilot.pause()
    place_cursor_on(app, subject)
    await pilot.press(key)
    await pilot.pause()
    if key == "s":
        assert isinstance(app.screen, FolderPicker)
        await pilot.press(*"arch", "enter")
        await pilot.pause()


@pytest.mark.parametrize("key", ["d", "s", "F"])
async def test_an_action_on_a_swapped_folder_reaches_only_the_message_meant(
    key: str, mail_servers: MailServers, tmp_path: Path
) -> None:
    user = mail_servers.add_user("appswap")
    with _client(mail_servers, user) as client:
        for folder in FOLDERS:
            client.create_folder(folder)
    for folder in ("Work", "Play"):  # the same UIDVALIDITY, as a server may give
        mail_servers.doveadm(
            "mailbox", "update", "-u", user, "--uid-validity", "1700000000", folder
        )
    with _client(mail_servers, user) as client:
        for number in range(3):
            client.append("Work", numbered_message(f"work {number}"))
            client.append("Play", numbered_message(f"play {number}"), flags=[imapclient.FLAGGED])
    config = account_config(mail_servers, user, "imap", mail_servers.imaps_port)
    assert await asyncio.to_thread(sync_account, config.accounts["acct"], tmp_path, discard)
    # Another client swaps the names: UID 2 of the folder named Work is now "play 1".
    for old, new in (("Work", "Swap"), ("Play", "Work"), ("Swap", "Play")):
        mail_servers.doveadm("mailbox", "rename", "-u", user, old, new)
    before = await asyncio.to_thread(_server, mail_servers, user)

    app = TuimailApp(config, tmp_path, offline=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await _act(app, pilot, "Work", "work 1", key)  # as the list still shows it
        assert ops.count_pending(app.conn) == 1
        await pilot.press("q")

    assert await asyncio.to_thread(sync_account, config.accounts["acct"], tmp_path, discard)
    assert await asyncio.to_thread(_server, mail_servers, user) == before, "nothing changed"
    conn = open_store(tmp_path)
    try:
        account = read.account_id(conn, "acct")
        assert account is not None
        (failed,) = ops.failed(conn, account)
        assert failed.last_error == FOLDER_CHANGED
        for op in ops.failed(conn, account):
            ops.discard(conn, op.id)
    finally:
        conn.close()

    # The folders were rebuilt: "work 1" is shown in Play now, and the action reaches it.
    app = TuimailApp(config, tmp_path, offline=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await _act(app, pilot, "Play", "work 1", key)
        await pilot.press("q")
    assert await asyncio.to_thread(sync_account, config.accounts["acct"], tmp_path, discard)
    after = await asyncio.to_thread(_server, mail_servers, user)
    expected = {folder: dict(messages) for folder, messages in before.items()}
    if key == "F":
        expected["Play"]["work 1"] = expected["Play"]["work 1"] | {b"\\Flagged"}
    else:
        flags = expected["Play"].pop("work 1")
        expected["Trash" if key == "d" else "Archive"]["work 1"] = flags
    assert after == expected


async def test_a_delete_given_up_after_a_swap_is_told_and_leaves_no_ghost(
    mail_servers: MailServers, tmp_path: Path
) -> None:
    """The app is open on Work when another client swaps Work and Play; `d` on "work 1" (UID 2
    of Work, which now holds "play 1") is not carried out: the user is told, Trash shows no
    copy of a message the server never moved, and "work 1" shows in Play, where it is."""
    user = mail_servers.add_user("appghost")
    with _client(mail_servers, user) as client:
        for folder in FOLDERS:
            client.create_folder(folder)
    for folder in ("Work", "Play"):
        mail_servers.doveadm(
            "mailbox", "update", "-u", user, "--uid-validity", "1700000000", folder
        )
    with _client(mail_servers, user) as client:
        for number in range(3):
            client.append("Work", numbered_message(f"work {number}"))
            client.append("Play", numbered_message(f"play {number}"))
    config = account_config(mail_servers, user, "imap", mail_servers.imaps_port)

    app = TuimailApp(config, tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:

        def synced() -> bool:
            folders = {f.name: f for f in read.folders(app.conn)}
            return all(
                name in folders and folders[name].last_sync for name in FOLDERS
            ) and app.engines.watching("acct")

        await wait_for(pilot, synced)
        for old, new in (("Work", "Swap"), ("Play", "Work"), ("Swap", "Play")):
            await asyncio.to_thread(mail_servers.doveadm, "mailbox", "rename", "-u", user, old, new)
        before = await asyncio.to_thread(_server, mail_servers, user)

        await _act(app, pilot, "Work", "work 1", "d")

        def notices() -> list[str]:
            return [n.message for n in app._notifications if "not carried out" in n.message]

        await wait_for(pilot, notices)
        (notice,) = notices()
        assert notice.startswith("Moving 1 message from Work to Trash was not carried out:")
        assert "the name Work now stands for another folder on the server" in notice
        assert "nothing was changed on the server" in notice

        def subjects(folder: str) -> set[str]:
            place = next(f.id for f in read.folders(app.conn) if f.name == folder)
            rows = (read.row(app.conn, i) for i in read.message_ids(app.conn, place))
            return {r.envelope.subject for r in rows if r is not None}

        assert "work 1" not in subjects("Trash"), "no ghost of a move never made"
        await wait_for(pilot, lambda: "work 1" in subjects("Play") and synced())
        assert subjects("Trash") == set()
        assert subjects("Play") == {"work 0", "work 1", "work 2"}
        assert subjects("Work") == {"play 0", "play 1", "play 2"}
        assert ops.count_pending(app.conn) == 0
    assert await asyncio.to_thread(_server, mail_servers, user) == before, "nothing changed"
